/**
 * `healthcheck [-c FILE] [--url URL]`: GET /healthz of the admin endpoint; exit 0 on a 200, 1 on
 * anything else (Docker's HEALTHCHECK contract: 0 healthy, 1 unhealthy). Without --url the
 * address is FILE's `admin.listen`, probed on loopback when it is every address. For images
 * without curl: `HEALTHCHECK CMD ["/switchyard", "healthcheck"]`.
 *
 * @module
 */

import process from "node:process";
import { hostPort } from "../net/endpoint.ts";
import { loadOrReport } from "./config_arg.ts";

/** How long the probe waits for an answer. */
const TIMEOUT_MS = 3_000;

/** FILE's /healthz URL, or null (with the reason on stderr). */
function healthzUrl(file: string): string | null {
  const config = loadOrReport(file);
  if (config === null) return null;
  if (config.admin === null) {
    process.stderr.write(`switchyard: ${file} has no admin endpoint (admin: { listen: ... })\n`);
    return null;
  }
  const { host, port } = config.admin.listen;
  if (port === 0) {
    process.stderr.write(`switchyard: the admin endpoint listens on port 0: pass --url\n`);
    return null;
  }
  const probe = host === "" || host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
  return `http://${hostPort(probe, port)}/healthz`;
}

/** Probes once; resolves with the exit code. */
export async function healthcheck(file: string, url: string | undefined): Promise<number> {
  const target = url ?? healthzUrl(file);
  if (target === null) return 1;
  try {
    const res = await fetch(target, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    await res.body?.cancel();
    if (res.status === 200) return 0;
    process.stderr.write(`switchyard: ${target}: HTTP ${res.status}\n`);
  } catch (err) {
    process.stderr.write(`switchyard: ${target}: ${(err as Error).message}\n`);
  }
  return 1;
}
