/**
 * A throwaway self-signed certificate for TLS listeners in tests, made with
 * openssl.
 *
 * @module
 */

import { execFile } from "node:child_process";
import { join } from "node:path";

/**
 * Writes `cert.pem` and `key.pem` (CN=localhost, valid one day) into `dir`
 * and returns their paths; rejects with what to install when openssl is
 * missing.
 *
 * @example
 * ```ts
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import { makeCert } from "./certs.ts";
 * const { cert, key } = await makeCert(mkdtempSync(join(tmpdir(), "gatehouse-tls-")));
 * ```
 */
export function makeCert(dir: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  const args = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost"];
  args.push("-days", "1", "-keyout", key, "-out", cert);
  return new Promise((resolve, reject) => {
    execFile("openssl", args, (err, _stdout, stderr) => {
      if (err) {
        const missing = (err as { code?: unknown }).code === "ENOENT";
        reject(
          new Error(
            missing
              ? "openssl is not installed: install it (Debian: apt-get install openssl) to run the TLS tests"
              : `openssl failed: ${err.message}\n${stderr}`,
          ),
        );
      } else resolve({ cert, key });
    });
  });
}
