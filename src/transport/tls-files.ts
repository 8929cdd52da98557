import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";

/** The PEM files Keyward serves TLS with (KEYWARD_TLS_CERT, KEYWARD_TLS_KEY, KEYWARD_TLS_CLIENT_CA). */
export interface TlsFiles {
  /** The server certificate, optionally followed by its intermediates. */
  readonly certPath: string;
  readonly keyPath: string;
  /** CA certificates that client certificates must chain to; undefined: no client certificate asked for. */
  readonly clientCaPath: string | undefined;
}

/** What the files hold, not yet checked. */
export interface TlsContents {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa: Buffer | undefined;
}

/** The files' contents, checked to be usable together. */
export interface TlsMaterial extends TlsContents {
  /** The leaf certificate, for log lines (subject, serial, expiry). */
  readonly certificate: X509Certificate;
}

/** Which file a problem is in. */
export type TlsFile = "cert" | "key" | "clientCa";

/** The variable that names each file, for messages. */
export const TLS_VARIABLE = {
  cert: "KEYWARD_TLS_CERT",
  key: "KEYWARD_TLS_KEY",
  clientCa: "KEYWARD_TLS_CLIENT_CA",
} as const satisfies Record<TlsFile, string>;

export interface TlsProblem {
  readonly file: TlsFile;
  readonly error: string;
}

/**
 * Reads the files and checks what a TLS server needs of them: a certificate, a private key that
 * belongs to it, and CA certificates when client certificates are required. A problem is a value
 * naming the file, so that start-up can name the variable and a reload can keep the last good files.
 */
export function readTlsFiles(files: TlsFiles): { material: TlsMaterial } | TlsProblem {
  const read = readTlsContents(files);
  return "error" in read ? read : checkTlsContents(read.contents);
}

/** The files' bytes, or the first that cannot be read (perhaps only for a moment, mid-replacement). */
export function readTlsContents(files: TlsFiles): { contents: TlsContents } | TlsProblem {
  const cert = readBytes(files.certPath, "cert");
  if (!Buffer.isBuffer(cert)) return cert;
  const key = readBytes(files.keyPath, "key");
  if (!Buffer.isBuffer(key)) return key;
  const clientCa = files.clientCaPath === undefined ? undefined : readBytes(files.clientCaPath, "clientCa");
  if (clientCa !== undefined && !Buffer.isBuffer(clientCa)) return clientCa;
  return { contents: { cert, key, clientCa } };
}

/** The checks of readTlsFiles, on contents already read. */
export function checkTlsContents(contents: TlsContents): { material: TlsMaterial } | TlsProblem {
  const { cert, key, clientCa } = contents;
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (error) {
    return { file: "cert", error: `not a PEM certificate (${reason(error)})` };
  }
  try {
    if (!certificate.checkPrivateKey(createPrivateKey(key))) {
      return { file: "key", error: "the private key does not belong to the certificate" };
    }
  } catch (error) {
    return { file: "key", error: `not a PEM private key without a passphrase (${reason(error)})` };
  }
  if (clientCa !== undefined) {
    try {
      new X509Certificate(clientCa);
    } catch (error) {
      return { file: "clientCa", error: `not a PEM certificate (${reason(error)})` };
    }
  }
  try {
    // What the listeners will do with them; catches the rest (a broken intermediate, a weak key).
    createSecureContext({ cert, key, ...(clientCa ? { ca: clientCa } : {}) });
  } catch (error) {
    return { file: "cert", error: `not usable by TLS (${reason(error)})` };
  }
  return { material: { cert, key, clientCa, certificate } };
}

/** Whether two sets of contents are byte for byte the same. */
export function sameTlsContents(a: TlsContents, b: TlsContents): boolean {
  const same = (x: Buffer | undefined, y: Buffer | undefined) =>
    x === undefined || y === undefined ? x === y : x.equals(y);
  return same(a.cert, b.cert) && same(a.key, b.key) && same(a.clientCa, b.clientCa);
}

function readBytes(path: string, file: TlsFile): Buffer | TlsProblem {
  try {
    return readFileSync(path);
  } catch (error) {
    return { file, error: `cannot be read (${reason(error)})` };
  }
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message.split("\n")[0] || error.name : String(error);
}
