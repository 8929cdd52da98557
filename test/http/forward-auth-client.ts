import { Agent, type IncomingHttpHeaders, request } from "node:http";
import { connect } from "node:net";

// Real HTTP requests to the /authz endpoints, over keep-alive connections, as gateways send them.

/** The flavours and where each puts the original method and path (src/transport/forwarded-request.ts). */
export type Flavour = "forward-auth" | "auth-request" | "ext-authz";

export interface AuthAsk {
  /** The original request's method and path (with query). */
  readonly method: string;
  readonly uri: string;
  /** The client's headers, forwarded by the gateway. */
  readonly headers?: Record<string, string>;
  /** The auth URL's query (route requirements), without `?`; not for ext-authz. */
  readonly query?: string;
}

export interface AuthAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** The auth request a gateway of this flavour sends for an original request. */
export function authRequest(flavour: Flavour, ask: AuthAsk) {
  const query = ask.query === undefined ? "" : `?${ask.query}`;
  const headers = { ...ask.headers };
  switch (flavour) {
    case "forward-auth":
      Object.assign(headers, {
        "x-forwarded-method": ask.method,
        "x-forwarded-uri": ask.uri,
        "x-forwarded-host": "api.example.com",
        "x-forwarded-proto": "https",
      });
      return { method: "GET", path: `/authz/forward-auth${query}`, headers };
    case "auth-request":
      Object.assign(headers, { "x-original-method": ask.method, "x-original-uri": ask.uri });
      return { method: "GET", path: `/authz/auth-request${query}`, headers };
    case "ext-authz":
      return { method: ask.method, path: `/authz/ext-authz${ask.uri}`, headers };
  }
}

/** A client of one server's HTTP listener; close() ends its keep-alive connections. */
export function authClient(httpUrl: string) {
  const agent = new Agent({ keepAlive: true, maxSockets: 2 });
  const base = new URL(httpUrl);
  const send = (method: string, path: string, headers: Record<string, string>, body?: string) =>
    new Promise<AuthAnswer>((resolve, reject) => {
      const req = request(
        { agent, host: base.hostname, port: base.port, method, path, headers },
        (response) => {
          let text = "";
          response.setEncoding("utf8");
          response.on("data", (chunk: string) => {
            text += chunk;
          });
          response.on("end", () =>
            resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text }),
          );
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  return {
    send,
    ask: (flavour: Flavour, ask: AuthAsk) => {
      const built = authRequest(flavour, ask);
      return send(built.method, built.path, built.headers);
    },
    close: () => agent.destroy(),
  };
}

/** Sends raw bytes on a new connection; resolves with what came back once the server closes or goes quiet. */
export function rawExchange(httpUrl: string, bytes: string): Promise<string> {
  const base = new URL(httpUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(base.port), base.hostname);
    let received = "";
    const done = () => {
      socket.destroy();
      resolve(received);
    };
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      received += chunk;
      // A complete answer that keeps the connection open: nothing more will come.
      if (/\r\n\r\n/.test(received)) setTimeout(done, 100);
    });
    socket.on("end", done);
    socket.on("error", (error) => (received === "" ? reject(error) : done()));
    socket.write(bytes);
  });
}

/** The JSON error of a denial or a refused request. */
export function errorOf(answer: AuthAnswer): {
  code: string;
  message: string;
  details?: Record<string, unknown>;
} {
  return (JSON.parse(answer.body) as { error: { code: string; message: string } }).error;
}
