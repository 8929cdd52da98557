import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

// Certificates made at test time with the openssl command (EC P-256, valid for a day), so that no
// key is ever committed and none expires in the repository.

/** A certificate and its key as PEM files, and the parsed certificate. */
export interface Issued {
  readonly certPath: string;
  readonly keyPath: string;
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly serial: string;
}

export interface TestCa extends Issued {
  /** A server certificate for 127.0.0.1 and localhost. */
  server(name: string): Issued;
  /** A client certificate (extendedKeyUsage clientAuth). */
  client(name: string): Issued;
}

/** A new CA in `dir`; every file it writes is named after `name`. */
export function testCa(dir: string, name: string): TestCa {
  const ca = issue(
    dir,
    name,
    ["-x509", "-days", "1"],
    ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"],
  );
  let serial = 1000;
  const signed = (leaf: string, extensions: readonly string[]) => {
    const csr = join(dir, `${leaf}.csr`);
    const extfile = join(dir, `${leaf}.ext`);
    writeFileSync(extfile, `${extensions.join("\n")}\n`);
    const keyPath = join(dir, `${leaf}.key`);
    const certPath = join(dir, `${leaf}.crt`);
    openssl(["req", "-new", ...newKey(keyPath), "-subj", `/CN=${leaf}`, "-out", csr]);
    openssl([
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      ca.certPath,
      "-CAkey",
      ca.keyPath,
      "-set_serial",
      String(serial++),
      "-days",
      "1",
      "-extfile",
      extfile,
      "-out",
      certPath,
    ]);
    return files(certPath, keyPath);
  };
  return {
    ...ca,
    server: (leaf) =>
      signed(leaf, ["subjectAltName=IP:127.0.0.1,DNS:localhost", "extendedKeyUsage=serverAuth"]),
    client: (leaf) => signed(leaf, ["extendedKeyUsage=clientAuth"]),
  };
}

function issue(dir: string, name: string, args: readonly string[], extensions: readonly string[]): Issued {
  const keyPath = join(dir, `${name}.key`);
  const certPath = join(dir, `${name}.crt`);
  openssl([
    "req",
    ...args,
    ...newKey(keyPath),
    "-subj",
    `/CN=${name}`,
    ...extensions.flatMap((extension) => ["-addext", extension]),
    "-out",
    certPath,
  ]);
  return files(certPath, keyPath);
}

function newKey(keyPath: string): string[] {
  return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", keyPath];
}

function files(certPath: string, keyPath: string): Issued {
  const cert = readFileSync(certPath);
  return {
    certPath,
    keyPath,
    cert,
    key: readFileSync(keyPath),
    serial: new X509Certificate(cert).serialNumber,
  };
}

function openssl(args: readonly string[]): void {
  execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
}
