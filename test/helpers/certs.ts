/**
 * Certificates made by `openssl` for a test: a CA (with `openssl ca`, so certificates can be
 * back-dated, expired and revoked), server certificates for 127.0.0.1, client certificates
 * with a CN and SANs, and a CRL. Everything lives in a temporary directory.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface Issued {
  readonly cert: string
  readonly key: string
  readonly certFile: string
  readonly keyFile: string
}

function openssl(args: readonly string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] })
}

/** openssl ca date format (UTC): YYYYMMDDHHMMSSZ. */
function caDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z'
}

export class TestCa {
  readonly dir: string
  readonly name: string
  #serial = 0

  private constructor(dir: string, name: string) {
    this.dir = dir
    this.name = name
  }

  /** A new CA in its own temporary directory. */
  static create(name = 'Portcullis Test CA'): TestCa {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-ca-'))
    writeFileSync(join(dir, 'index.txt'), '')
    writeFileSync(join(dir, 'crlnumber'), '01\n')
    writeFileSync(join(dir, 'ca.cnf'), [
      '[ca]', 'default_ca = test_ca',
      '[test_ca]', `dir = ${dir}`, 'database = $dir/index.txt', 'new_certs_dir = $dir', 'serial = $dir/serial',
      'crlnumber = $dir/crlnumber', 'certificate = $dir/ca.crt', 'private_key = $dir/ca.key', 'default_md = sha256',
      'default_days = 30', 'default_crl_days = 30', 'policy = anything', 'unique_subject = no', 'copy_extensions = copy',
      '[anything]', 'commonName = supplied',
    ].join('\n'))
    writeFileSync(join(dir, 'serial'), '1000\n')
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt',
      '-days', '30', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir)
    return new TestCa(dir, name)
  }

  get cert(): string {
    return readFileSync(join(this.dir, 'ca.crt'), 'utf8')
  }

  get certFile(): string {
    return join(this.dir, 'ca.crt')
  }

  /**
   * Issue a certificate. `san`: e.g. ['IP:127.0.0.1', 'DNS:device-1.example', 'URI:urn:dev:1',
   * 'email:a@b']. `notBefore`/`notAfter` in epoch ms (default: an hour ago .. 30 days on).
   */
  issue(cn: string, options: { san?: readonly string[]; server?: boolean; notBefore?: number; notAfter?: number } = {}): Issued {
    const id = `leaf-${++this.#serial}`
    const exts = [
      'basicConstraints=critical,CA:FALSE',
      `extendedKeyUsage=${options.server === true ? 'serverAuth' : 'clientAuth'}`,
      ...(options.san !== undefined && options.san.length > 0 ? [`subjectAltName=${options.san.join(',')}`] : []),
    ]
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${id}.key`, '-out', `${id}.csr`,
      '-subj', `/CN=${cn}`, ...exts.flatMap((e) => ['-addext', e])], this.dir)
    const now = Date.now()
    openssl(['ca', '-batch', '-config', 'ca.cnf', '-in', `${id}.csr`, '-out', `${id}.crt`, '-notext',
      '-startdate', caDate(options.notBefore ?? now - 3600_000), '-enddate', caDate(options.notAfter ?? now + 30 * 86_400_000)], this.dir)
    return {
      cert: readFileSync(join(this.dir, `${id}.crt`), 'utf8'),
      key: readFileSync(join(this.dir, `${id}.key`), 'utf8'),
      certFile: join(this.dir, `${id}.crt`),
      keyFile: join(this.dir, `${id}.key`),
    }
  }

  revoke(issued: Issued): void {
    openssl(['ca', '-config', 'ca.cnf', '-revoke', issued.certFile], this.dir)
  }

  /** Writes the current CRL (PEM) to `file` (default: crl.pem in the CA's directory) and returns its path. */
  writeCrl(file = join(this.dir, 'crl.pem')): string {
    openssl(['ca', '-config', 'ca.cnf', '-gencrl', '-out', file], this.dir)
    return file
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true })
  }
}
