/** Switchyard's version, printed by `version` and exported in /status. */
export const VERSION = "0.1.0";
