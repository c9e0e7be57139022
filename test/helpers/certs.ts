// Certificates made for a test with the openssl CLI: a CA, server certificates with SANs, client
// certificates signed by the CA (for mTLS) and one that is not.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CertFiles {
  cert: string;
  key: string;
}

export class TestPki {
  readonly dir = mkdtempSync(join(tmpdir(), 'pillion-pki-'));
  readonly ca: CertFiles;

  constructor() {
    this.ca = this.selfSigned('test-ca', null, true);
  }

  private run(args: string[]): void {
    execFileSync('openssl', args, { stdio: 'pipe' });
  }

  /** A self-signed certificate (not from the CA). `san` like "DNS:a.test,IP:127.0.0.1". */
  selfSigned(cn: string, san: string | null, isCa = false): CertFiles {
    const cert = join(this.dir, `${cn}-self.crt`);
    const key = join(this.dir, `${cn}-self.key`);
    const ext = ['-addext', isCa ? 'basicConstraints=critical,CA:TRUE' : 'basicConstraints=CA:FALSE'];
    if (san !== null) ext.push('-addext', `subjectAltName=${san}`);
    this.run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`, ...ext]);
    return { cert, key };
  }

  /** A certificate signed by the test CA. */
  issue(cn: string, san: string, name = cn): CertFiles {
    const key = join(this.dir, `${name}.key`);
    const csr = join(this.dir, `${name}.csr`);
    const cert = join(this.dir, `${name}.crt`);
    const ext = join(this.dir, `${name}.ext`);
    writeFileSync(ext, `subjectAltName=${san}\nbasicConstraints=CA:FALSE\n`);
    this.run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`]);
    this.run(['x509', '-req', '-in', csr, '-CA', this.ca.cert, '-CAkey', this.ca.key, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext]);
    return { cert, key };
  }
}
