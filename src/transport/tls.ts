import type { RequestListener } from "node:http";
import { createServer, type Server as HttpsServer } from "node:https";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "../log.js";
import {
  checkTlsContents,
  readTlsContents,
  readTlsFiles,
  sameTlsContents,
  TLS_VARIABLE,
  type TlsContents,
  type TlsFiles,
  type TlsMaterial,
  type TlsProblem,
} from "./tls-files.js";

/** TLS for both listeners, following the certificate files as they change. */
export interface ServedTls {
  /** Whether clients must present a certificate signed by the client CA. */
  readonly mutual: boolean;
  /** For grpc-js `bindAsync`; each listener bound with it moves to new files by itself. */
  readonly grpcCredentials: grpc.ServerCredentials;
  /** An HTTPS server for the Connect listener, moved to new files as they come. */
  createHttpsServer(handle: RequestListener): HttpsServer;
  /** Stops watching the files. */
  close(): void;
}

/** The files were unusable at start-up. */
export class TlsFilesError extends Error {}

/**
 * Loads the files (throwing TlsFilesError naming the variable when they are unusable) and polls them
 * every reloadMs. New contents are checked before they are used: a broken or half-replaced set is
 * refused with one log line while the last good certificate stays in force.
 */
export function serveTls(files: TlsFiles, log: Logger, reloadMs: number): ServedTls {
  const first = readTlsFiles(files);
  if ("error" in first) throw new TlsFilesError(`${TLS_VARIABLE[first.file]}: ${first.error}`);
  let material = first.material;
  const mutual = files.clientCaPath !== undefined;
  log.info("tls certificate loaded", { ...describe(material), client_certificates: mutual });

  const https = new Set<HttpsServer>();
  const provider = certificateProvider(() => material);
  let refused: TlsContents | TlsProblem | undefined; // the last refusal, logged once
  const poll = () => {
    const read = readTlsContents(files);
    if ("contents" in read && sameTlsContents(read.contents, material)) return;
    const checked = "error" in read ? read : checkTlsContents(read.contents);
    if ("error" in checked) {
      const refusal = "error" in read ? read : read.contents;
      if (refused !== undefined && sameRefusal(refused, refusal)) return;
      refused = refusal;
      log.error("tls certificate refused; the last good one stays in force", {
        variable: TLS_VARIABLE[checked.file],
        error: checked.error,
      });
      return;
    }
    refused = undefined;
    material = checked.material;
    provider.publish();
    for (const server of https) server.setSecureContext(contextOptions(material));
    log.info("tls certificate reloaded", describe(material));
  };
  const timer = setInterval(poll, reloadMs);
  timer.unref();

  return {
    mutual,
    // grpc-js 1.14 hands its first two arguments to a constructor taking (identity, ca), whatever
    // the declared names say; one provider serves both, so only whether the second is null matters.
    grpcCredentials: grpc.experimental.createCertificateProviderServerCredentials(
      provider,
      mutual ? provider : null,
      mutual,
    ),
    createHttpsServer(handle) {
      const server = createServer(
        { ...contextOptions(material), requestCert: mutual, rejectUnauthorized: mutual },
        handle,
      );
      https.add(server);
      server.once("close", () => https.delete(server));
      return server;
    },
    close: () => clearInterval(timer),
  };
}

// grpc-js's own FileWatcherCertificateProvider is not used: it hands over whatever the files hold,
// and grpc-js drops every new connection while it holds contents it cannot use (a half-replaced pair,
// a missing file). This one only ever publishes material that passed checkTlsContents.
function certificateProvider(current: () => TlsMaterial) {
  const identity = new Set<grpc.experimental.IdentityCertificateUpdateListener>();
  const ca = new Set<grpc.experimental.CaCertificateUpdateListener>();
  const sendIdentity = (listener: grpc.experimental.IdentityCertificateUpdateListener) =>
    listener({ certificate: current().cert, privateKey: current().key });
  const sendCa = (listener: grpc.experimental.CaCertificateUpdateListener) => {
    const clientCa = current().clientCa;
    if (clientCa !== undefined) listener({ caCertificate: clientCa });
  };
  const provider: grpc.experimental.CertificateProvider & { publish(): void } = {
    // Answered on the next tick, as grpc-js's own providers do: it registers its watcher afterwards.
    addIdentityCertificateListener(listener) {
      identity.add(listener);
      process.nextTick(sendIdentity, listener);
    },
    removeIdentityCertificateListener: (listener) => identity.delete(listener),
    addCaCertificateListener(listener) {
      ca.add(listener);
      process.nextTick(sendCa, listener);
    },
    removeCaCertificateListener: (listener) => ca.delete(listener),
    publish() {
      for (const listener of identity) sendIdentity(listener);
      for (const listener of ca) sendCa(listener);
    },
  };
  return provider;
}

function contextOptions(material: TlsMaterial) {
  return { cert: material.cert, key: material.key, ...(material.clientCa ? { ca: material.clientCa } : {}) };
}

function sameRefusal(a: TlsContents | TlsProblem, b: TlsContents | TlsProblem): boolean {
  if ("error" in a || "error" in b)
    return "error" in a && "error" in b && a.file === b.file && a.error === b.error;
  return sameTlsContents(a, b);
}

function describe(material: TlsMaterial) {
  const { subject, serialNumber, fingerprint256, validTo } = material.certificate;
  return {
    subject: subject.replaceAll("\n", ", "),
    serial: serialNumber,
    fingerprint256,
    not_after: validTo,
  };
}
