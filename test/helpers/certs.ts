/**
 * Real X.509 certificates for TLS tests, made with the `openssl` CLI in a temp
 * directory: a CA, a server certificate for 127.0.0.1, and client certificates
 * (good, expired, from another CA, self-signed). EC P-256 keys keep it fast.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A PEM certificate and its PEM private key. */
export interface CertPair {
  readonly cert: string;
  readonly key: string;
}

export interface TestCerts {
  /** The CA that issues the server and the good client certificates. */
  readonly ca: CertPair;
  /** An unrelated CA. */
  readonly otherCa: CertPair;
  /** Server certificate for IP 127.0.0.1 (serverAuth), issued by `ca`. */
  readonly server: CertPair;
  /** Client certificate `CN=alice` (clientAuth), issued by `ca`, valid now. */
  readonly client: CertPair;
  /** Client certificate `CN=bob`, issued by `ca`, valid in January 2020 only. */
  readonly expiredClient: CertPair;
  /** Client certificate `CN=carol`, issued by `otherCa`. */
  readonly otherCaClient: CertPair;
  /** Self-signed client certificate `CN=mallory` (not a CA). */
  readonly selfSignedClient: CertPair;
  /** Client certificate `CN=dave` issued by `ca` for serverAuth only (no clientAuth usage). */
  readonly serverOnlyClient: CertPair;
  /** Removes the temp directory. */
  cleanup(): Promise<void>;
}

/** One openssl config: `req` sections, and an `openssl ca` database for the CA named `ca`. */
function config(dir: string, ca: string): string {
  return `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[self_client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
[ca]
default_ca = test_ca
[test_ca]
database = ${join(dir, `${ca}.index`)}
serial = ${join(dir, `${ca}.serial`)}
new_certs_dir = ${dir}
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = email:user@example.com
authorityKeyIdentifier = keyid
`;
}

/** Creates every certificate (a few hundred ms). */
export async function generateTestCerts(): Promise<TestCerts> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-certs-'));
  const path = (name: string) => join(dir, name);
  const ssl = (...args: string[]) => run('openssl', args, { cwd: dir });
  for (const ca of ['ca', 'other-ca']) {
    await writeFile(path(`${ca}.cnf`), config(dir, ca));
    await writeFile(path(`${ca}.index`), '');
    await writeFile(path(`${ca}.serial`), `${randomBytes(8).toString('hex')}\n`);
  }

  const key = (name: string) => ssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path(`${name}.key`));
  const selfSigned = async (name: string, cn: string, ext: string): Promise<void> => {
    await key(name);
    await ssl(
      'req',
      '-x509',
      '-new',
      '-config',
      path('ca.cnf'),
      '-key',
      path(`${name}.key`),
      '-subj',
      `/CN=${cn}`,
      '-days',
      '30',
      '-extensions',
      ext,
      '-out',
      path(`${name}.pem`),
    );
  };
  const issue = async (name: string, cn: string, ca: string, ext: string, dates: readonly string[] = ['-days', '30']): Promise<void> => {
    await key(name);
    await ssl('req', '-new', '-config', path(`${ca}.cnf`), '-key', path(`${name}.key`), '-subj', `/CN=${cn}`, '-out', path(`${name}.csr`));
    await ssl(
      'ca',
      '-batch',
      '-notext',
      '-config',
      path(`${ca}.cnf`),
      '-cert',
      path(`${ca}.pem`),
      '-keyfile',
      path(`${ca}.key`),
      '-in',
      path(`${name}.csr`),
      '-out',
      path(`${name}.pem`),
      '-extensions',
      ext,
      ...dates,
    );
  };

  await selfSigned('ca', 'Portcullis Test CA', 'v3_ca');
  await selfSigned('other-ca', 'Other Test CA', 'v3_ca');
  await issue('server', '127.0.0.1', 'ca', 'server');
  await issue('client', 'alice', 'ca', 'client');
  await issue('expired', 'bob', 'ca', 'client', ['-startdate', '20200101000000Z', '-enddate', '20200201000000Z']);
  await issue('server-only', 'dave', 'ca', 'server');
  await issue('other-client', 'carol', 'other-ca', 'client');
  await selfSigned('self', 'mallory', 'self_client');

  const pair = async (name: string): Promise<CertPair> => ({
    cert: await readFile(path(`${name}.pem`), 'utf8'),
    key: await readFile(path(`${name}.key`), 'utf8'),
  });
  return {
    ca: await pair('ca'),
    otherCa: await pair('other-ca'),
    server: await pair('server'),
    client: await pair('client'),
    expiredClient: await pair('expired'),
    otherCaClient: await pair('other-client'),
    selfSignedClient: await pair('self'),
    serverOnlyClient: await pair('server-only'),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
