// A real PostgreSQL server for the tests (docs/ORIGIN.md, "PostgreSQL"): initdb into a
// temporary directory, pg_ctl on a free 127.0.0.1 port, stopped afterwards. PostgreSQL refuses
// to run as root, so when the tests run as root the server runs as `nobody` (through runuser).
// A missing server is an error, never a skip: scripts/setup.sh installs Debian's postgresql.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './origin.mjs';

/** The directory of initdb, pg_ctl and postgres: the newest /usr/lib/postgresql/N/bin. */
export function pgBin() {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin', 'postgres'))).sort((a, b) => Number(b) - Number(a))
    : [];
  if (!versions.length) {
    throw new Error('PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres): run scripts/setup.sh');
  }
  return path.join(root, versions[0], 'bin');
}

const asRoot = process.getuid?.() === 0;
const RUN_AS = 'nobody';

/** Runs a PostgreSQL tool, as `nobody` when we are root. */
function pgTool(tool, args, options = {}) {
  const file = tool.includes('/') || tool === 'touch' ? tool : path.join(pgBin(), tool);
  const [cmd, argv] = asRoot ? ['runuser', ['-u', RUN_AS, '--', file, ...args]] : [file, args];
  return execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options });
}

function ownedTempDir(prefix) {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', RUN_AS], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', RUN_AS], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  chmodSync(dir, 0o700);
  return dir;
}

/**
 * One PostgreSQL cluster. `settings` are extra postgresql.conf lines; `fast` (default) turns
 * off fsync for the test suite's speed (the failover drill keeps it on).
 */
export class PgCluster {
  constructor({ dir, port, name }) {
    this.dir = dir;
    this.port = port;
    this.name = name;
    this.log = path.join(dir, 'server.log');
    this.running = false;
  }

  /** initdb a new cluster (superuser `postgres`, trust auth on loopback only). */
  static async init({ name = 'pg', settings = [], fast = true } = {}) {
    const dir = ownedTempDir(`invoice-${name}-`);
    const data = path.join(dir, 'data');
    pgTool('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale', 'C']);
    const port = await freePort();
    const cluster = new PgCluster({ dir, port, name });
    cluster.data = data;
    cluster.configure([
      `port = ${port}`,
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${dir}'`,
      'max_connections = 200',
      ...(fast ? ['fsync = off', 'synchronous_commit = off', 'full_page_writes = off'] : []),
      ...settings,
    ]);
    return cluster;
  }

  configure(lines) {
    appendFileSync(path.join(this.data, 'postgresql.conf'), `\n${lines.join('\n')}\n`);
  }

  start() {
    pgTool('pg_ctl', ['-D', this.data, '-l', this.log, '-w', '-t', '60', 'start']);
    this.running = true;
  }

  /** `fast` (default) or `immediate` (a crash, as losing the machine). */
  stop(mode = 'fast') {
    if (!this.running) return;
    try {
      pgTool('pg_ctl', ['-D', this.data, '-m', mode, '-w', '-t', '60', 'stop']);
    } finally {
      this.running = false;
    }
  }

  promote() {
    pgTool('pg_ctl', ['-D', this.data, '-w', '-t', '60', 'promote']);
  }

  /** Runs SQL with psql as the superuser; returns its unaligned output. */
  sql(statement, database = 'postgres') {
    return pgTool('psql', ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres', '-d', database,
      '-v', 'ON_ERROR_STOP=1', '-XAtq', '-c', statement]).trim();
  }

  url(database = 'postgres') {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  /** A new empty database; its URL. */
  createDatabase(name) {
    this.sql(`CREATE DATABASE ${name}`);
    return this.url(name);
  }

  serverLog() {
    try {
      return readFileSync(this.log, 'utf8');
    } catch {
      return '';
    }
  }

  /**
   * A streaming standby of this (running) cluster, by pg_basebackup, with `application_name`
   * `name`; started. Its port differs, its data is its own.
   */
  async standby({ name = 'standby' } = {}) {
    const dir = ownedTempDir(`invoice-${name}-`);
    const data = path.join(dir, 'data');
    // Without -R: its postgresql.auto.conf line would override our primary_conninfo, whose
    // application_name is what synchronous_standby_names names.
    pgTool('pg_basebackup', ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres', '-D', data,
      '-X', 'stream', '--no-sync']);
    pgTool('touch', [path.join(data, 'standby.signal')]);
    const port = await freePort();
    const standby = new PgCluster({ dir, port, name });
    standby.data = data;
    standby.configure([
      `port = ${port}`,
      `unix_socket_directories = '${dir}'`,
      `primary_conninfo = 'host=127.0.0.1 port=${this.port} user=postgres application_name=${name}'`,
      // A promotion waits for the WAL receiver's next retry: 5 s by default.
      'wal_retrieve_retry_interval = 200ms',
    ]);
    standby.start();
    return standby;
  }

  /** Stops the server if running and removes its directory. */
  destroy() {
    try {
      this.stop('immediate');
    } catch {
      // already gone
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A started single server for a test file; `destroy()` it in `after`. */
export async function startPostgres(options = {}) {
  const cluster = await PgCluster.init(options);
  cluster.start();
  return cluster;
}
