import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { join } from "node:path";

// Real nginx and Caddy, started as child processes on free loopback ports with the example
// configurations from deploy/, in front of an upstream that echoes what it received.

export type ProxyName = "nginx" | "caddy";

/** The binary's path, or undefined when it is not installed. */
export function proxyBinary(name: ProxyName): string | undefined {
  try {
    return execFileSync("sh", ["-c", `command -v ${name} || ls /usr/sbin/${name}`], { encoding: "utf8" })
      .split("\n")[0]
      ?.trim();
  } catch {
    return undefined;
  }
}

/** What the upstream saw of one request. */
export interface Echoed {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

/** The protected service: answers 200 with the request it received as JSON. */
export async function startEchoUpstream(): Promise<{ port: number; server: Server }> {
  const server = createServer((request, response) => {
    request.resume();
    const body = JSON.stringify({ method: request.method, url: request.url, headers: request.headers });
    response.writeHead(200, { "content-type": "application/json" });
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return { port: typeof address === "object" && address !== null ? address.port : 0, server };
}

export interface Ports {
  readonly proxy: number;
  readonly keyward: number;
  readonly app: number;
}

export interface RunningProxy {
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * deploy/nginx/keyward.conf with its listen port and upstream addresses replaced, inside the
 * smallest main configuration that runs unprivileged in `dir`.
 */
export function nginxConfig(dir: string, ports: Ports): string {
  const site = readFileSync("deploy/nginx/keyward.conf", "utf8")
    .replace("server 127.0.0.1:8080;", `server 127.0.0.1:${ports.keyward};`)
    .replace("server 127.0.0.1:8081;", `server 127.0.0.1:${ports.app};`)
    .replace("listen 8000;", `listen 127.0.0.1:${ports.proxy};`);
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
    .map((kind) => `${kind}_temp_path ${join(dir, `${kind}_temp`)};`)
    .join("\n  ");
  return `daemon off;
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "error.log")} warn;
events { worker_connections 256; }
http {
  access_log off;
  ${temp}
${site}
}
`;
}

/** deploy/caddy/Caddyfile with its site address and upstream addresses replaced. */
export function caddyConfig(ports: Ports): string {
  return readFileSync("deploy/caddy/Caddyfile", "utf8")
    .replace(":8000 {", `http://127.0.0.1:${ports.proxy} {`)
    .replaceAll("127.0.0.1:8080", `127.0.0.1:${ports.keyward}`)
    .replaceAll("127.0.0.1:8081", `127.0.0.1:${ports.app}`);
}

/** Starts the proxy in `dir` and waits until it answers on its port. */
export async function startProxy(name: ProxyName, dir: string, ports: Ports): Promise<RunningProxy> {
  mkdirSync(dir, { recursive: true });
  const binary = proxyBinary(name);
  if (binary === undefined) throw new Error(`${name} is not installed`);
  let child: ChildProcess;
  if (name === "nginx") {
    const file = join(dir, "nginx.conf");
    writeFileSync(file, nginxConfig(dir, ports));
    child = spawn(binary, ["-c", file, "-p", dir, "-e", join(dir, "error.log")], { stdio: "pipe" });
  } else {
    const file = join(dir, "Caddyfile");
    writeFileSync(file, caddyConfig(ports));
    child = spawn(binary, ["run", "--config", file, "--adapter", "caddyfile"], {
      stdio: "pipe",
      env: { ...process.env, XDG_DATA_HOME: join(dir, "data"), XDG_CONFIG_HOME: join(dir, "config") },
    });
  }
  let output = "";
  child.stdout?.on("data", (chunk) => {
    output += String(chunk);
  });
  child.stderr?.on("data", (chunk) => {
    output += String(chunk);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `http://127.0.0.1:${ports.proxy}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited at start:\n${output}`);
    if (await answers(url)) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${name} did not answer within 10 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url,
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(killer);
      }
    },
  };
}

async function answers(url: string): Promise<boolean> {
  try {
    await fetch(`${url}/`, { signal: AbortSignal.timeout(1_000) });
    return true;
  } catch {
    return false;
  }
}
