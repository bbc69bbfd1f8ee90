/**
 * The slice of Bun's API that `bun.ts` uses, declared for `deno check` (Bun's own type
 * package redeclares web globals and clashes with Deno's). Keep it to what is called.
 */

declare namespace Bun {
  const version: string;

  interface Socket<T> {
    data: T;
    readonly localAddress: string;
    readonly localPort: number;
    readonly remoteAddress: string;
    readonly remotePort: number;
    write(data: Uint8Array | string): number;
    shutdown(halfClose?: boolean): void;
    end(): void;
    terminate(): void;
    pause(): void;
    resume(): void;
  }

  interface SocketHandler<T> {
    open?(s: Socket<T>): void;
    data?(s: Socket<T>, chunk: Uint8Array): void;
    drain?(s: Socket<T>): void;
    end?(s: Socket<T>): void;
    close?(s: Socket<T>, err?: Error): void;
    error?(s: Socket<T>, err: Error): void;
    connectError?(s: Socket<T>, err: Error): void;
  }

  interface TCPSocketListener<T> {
    readonly hostname: string;
    readonly port: number;
    data: T;
    stop(closeActiveConnections?: boolean): void;
  }

  function listen<T>(opts: {
    hostname: string;
    port: number;
    reusePort?: boolean;
    allowHalfOpen?: boolean;
    socket: SocketHandler<T>;
  }): TCPSocketListener<T>;

  function connect<T>(opts: {
    hostname: string;
    port: number;
    allowHalfOpen?: boolean;
    socket: SocketHandler<T>;
  }): Promise<Socket<T>>;

  interface Server {
    readonly hostname: string;
    readonly port: number;
    stop(closeActiveConnections?: boolean): Promise<void>;
  }

  function serve(opts: {
    hostname: string;
    port: number;
    fetch: (req: Request) => Response | Promise<Response>;
  }): Server;
}
