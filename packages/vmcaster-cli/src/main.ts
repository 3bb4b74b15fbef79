// The whole command-line program as a function: parse (either style), run, print, return the exit status.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { UploadTarget } from '@hepix/imagelist-publisher';
import { openStore } from '@hepix/imagelist-store';
import type { TlsTrust, Transport } from '@hepix/transport';
import type { createUploadFacade } from '@hepix/upload-facade';
import { CliError } from './errors.js';
import { type ExecuteContext, execute } from './execute.js';
import { exitCodeFor, STATUS, STATUS_MEANINGS } from './exit.js';
import { parseLegacyArgs } from './legacy.js';
import { createCliLogger, parseLogFormat } from './log.js';
import { MODERN_COMMANDS, parseModernArgs } from './modern.js';
import { promptPassphrase } from './prompt.js';
import type { Request } from './request.js';
import { findConfigFile, resolveSettings } from './settings.js';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  /** Whether stderr is a terminal (progress bar) and stdin one (passphrase prompt). */
  stderrIsTTY: boolean;
  stdinIsTTY: boolean;
  now?: () => Date;
  /** Abort on SIGINT/SIGTERM (the bin does; embedding callers usually do not want process handlers). */
  handleSignals?: boolean;
}

function defaultIo(): CliIo {
  return {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: process.env,
    stderrIsTTY: !!process.stderr.isTTY,
    stdinIsTTY: !!process.stdin.isTTY,
  };
}

export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** The exit statuses as `--help` lists them (from the exit table: a test keeps README and help the same). */
export function exitStatusHelp(): string {
  return Object.entries(STATUS_MEANINGS)
    .map(([code, meaning]) => `  ${code.padStart(3)}  ${meaning}`)
    .join('\n');
}

export const HELP = `vmcaster: publish signed HEPiX image lists and their images

Subcommands (vmcaster <noun> <verb> --help for details):
  vmcaster endorser  list|show|add|del|keys|set|unset  [DN] [KEY] [VALUE]
  vmcaster imagelist list|show|add|del|keys|set|unset  [UUID] [KEY] [VALUE]   (show --stored)
  vmcaster imagelist bind-endorser|unbind-endorser UUID DN
  vmcaster imagelist bind-image|unbind-image UUID IMAGE
  vmcaster imagelist endorsers|images UUID
  vmcaster imagelist publish UUID           (sign and upload; same as --upload-imagelist)
  vmcaster imagelist import-smime FILE      (verified against --ca-dir; --no-verify to skip)
  vmcaster imagelist import-json FILE
  vmcaster imagelist download UUID          (fetch hv:uri, verify, import)
  vmcaster image list|show|add|del|keys|set|unset [UUID] [KEY] [VALUE]
  vmcaster image upload FILE --image UUID
  vmcaster image deprecate UUID --reason TEXT | undeprecate UUID   (sl:deprecated)
  vmcaster image add-location UUID URL | remove-location UUID URL  (sl:locations)

Flag style (vmcaster 0.0.x; exactly one action per run):
  --list-imagelist --list-image --list-endorser          (also --imagelist-list, --image-list, --endorser-list)
  --select-imagelist UUID --select-image UUID --select-endorser DN  (also --imagelist, --image, --endorser)
  --show-imagelist --show-image --show-endorser          (also --imagelist-show, ...)
      (--show-imagelist previews the next publish, strictly validated; add --stored for the stored state)
  --add-imagelist [UUID] --add-image [UUID] --add-endorser [DN]   (also --imagelist-add, ...)
  --del-imagelist [UUID] --del-image [UUID] --del-endorser [DN]   (also --imagelist-del, ...)
  --imagelist-add-endorser --imagelist-del-endorser      (also --connect, --disconnect)
  --imagelist-add-image --imagelist-del-image --imagelist-list-endorser --imagelist-list-image
  --key-set-{imagelist,image,endorser} KEY with --key-value-{...} VALUE or --key-value-{...}-file PATH
      (also --imagelist-key-set KEY --imagelist-value VALUE, --endorser-key-set, --endorser-value, ...)
  --key-del-{imagelist,image,endorser} KEY  --keys-{imagelist,image,endorser}
  --import-imagelist-smime PATH --import-imagelist-json PATH --download-imagelist
  --upload-image PATH (with --select-image)       (also --image-upload)
  --upload-imagelist (with --select-imagelist)    (also --imagelist-upload, --update)
  --lifetime-imagelist DAYS

Options (both styles):
  -d, --database URL      env VMCASTER_RDBMS, DISH_RDBMS; default sqlite:///vmcaster.db
  -C, --config-file PATH  env VMCASTER_CFG, DISH_CFG; default ~/.vmcaster.cfg then /etc/vmcaster/vmcaster.cfg
  --x509-dir DIR          env VMCASTER_X509_DIR; default ~/.globus
  --x509-cert PATH        env VMCASTER_X509_CERT, DISH_CERT; default DIR/usercert.pem
  --x509-key PATH         env VMCASTER_X509_KEY, DISH_KEY; default DIR/userkey.pem
  --p12-cert PATH         sign with a PKCS#12 file (certificate and key; a .p12/.pfx --x509-cert works too)
  --passphrase-file PATH  passphrase of an encrypted key (else env VMCASTER_X509_PASSPHRASE, else a prompt)
  --ca-dir DIR            trust directory for imports; default /etc/grid-security/certificates
  --no-verify             import a signed list without verifying it (warns)
  --tls-ca-file PATH      extra CA certificates for https downloads
  --flag F                uploader flag (repeatable)
  --json                  JSON output for listings and shows
  -v, --verbose / -q, --quiet
  --log-format text|json  messages on stderr as text lines (default) or JSON objects
  --no-progress           no progress bar
  -h, --help / -V, --version

Exit statuses:
${exitStatusHelp()}
`;

/** `--flag egiappdb:insert=true` → `{ 'egiappdb:insert': 'true' }`; a bare name means `true`. */
export function parseFlags(flags: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of flags) {
    const eq = f.indexOf('=');
    if (eq < 0) out[f] = 'true';
    else out[f.slice(0, eq)] = f.slice(eq + 1);
  }
  return out;
}

function progressBar(io: CliIo) {
  let last = 0;
  let lastPhase = '';
  return {
    update(phase: string, done: number, total: number | undefined) {
      const t = Date.now();
      if (phase === lastPhase && t - last < 100 && done !== total) return;
      last = t;
      lastPhase = phase;
      const mb = (n: number) => (n / 1048576).toFixed(1);
      if (total && total > 0) {
        const frac = Math.min(1, done / total);
        const width = 30;
        const fill = Math.round(frac * width);
        io.stderr(
          `\r${phase.padEnd(8)} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${(frac * 100).toFixed(0).padStart(3)}% ${mb(done)}/${mb(total)} MiB`,
        );
      } else io.stderr(`\r${phase.padEnd(8)} ${mb(done)} MiB`);
    },
    end() {
      if (lastPhase) io.stderr('\n');
    },
  };
}

async function parse(argv: string[]): Promise<Request | { usage: string }> {
  if (argv.length > 0 && MODERN_COMMANDS.includes(argv[0])) return parseModernArgs(argv);
  if (argv[0] === 'help') return { usage: HELP };
  return parseLegacyArgs(argv);
}

/** Runs vmcaster with these arguments and returns the exit status. */
export async function runCli(argv: string[], ioOverride: Partial<CliIo> = {}): Promise<number> {
  const io: CliIo = { ...defaultIo(), ...ioOverride };
  const clock = io.now ?? (() => new Date());
  let request: Request;
  try {
    const parsed = await parse(argv);
    if ('usage' in parsed) {
      io.stdout(parsed.usage.endsWith('\n') ? parsed.usage : `${parsed.usage}\n`);
      return STATUS.OK;
    }
    request = parsed;
  } catch (err) {
    createCliLogger(io.stderr, 0, 'text', clock).error(err);
    return exitCodeFor(err);
  }
  const { action, options } = request;
  let logger: ReturnType<typeof createCliLogger>;
  try {
    logger = createCliLogger(io.stderr, options.verbosity, parseLogFormat(options.logFormat), clock);
  } catch (err) {
    createCliLogger(io.stderr, 0, 'text', clock).error(err);
    return exitCodeFor(err);
  }
  const { log } = logger;
  for (const n of request.notes) log('warn', n);
  if (action.kind === 'help') {
    io.stdout(HELP);
    return STATUS.OK;
  }
  if (action.kind === 'version') {
    io.stdout(`${packageVersion()}\n`);
    return STATUS.OK;
  }

  // Ctrl-C (or SIGTERM) aborts a transfer cleanly instead of killing the process mid-write; a second one exits.
  const aborter = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (aborter.signal.aborted) process.exit(STATUS.INTERRUPTED);
    log('warn', `${signal}: aborting`);
    aborter.abort(new CliError('ERR_CLI_USAGE', `interrupted by ${signal}`));
  };
  if (io.handleSignals) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  let store: Awaited<ReturnType<typeof openStore>> | undefined;
  let facade: ReturnType<typeof createUploadFacade> | undefined;
  let transport: Transport | undefined;
  const bar =
    io.stderrIsTTY && options.progress !== false && !options.json && options.verbosity >= 0
      ? progressBar(io)
      : undefined;
  try {
    const settings = resolveSettings(
      {
        database: options.database,
        configFile: options.configFile,
        x509Dir: options.x509Dir,
        x509Cert: options.x509Cert,
        x509Key: options.x509Key,
        p12Cert: options.p12Cert,
        lifetimeDays: options.lifetimeDays,
        caDir: options.caDir,
      },
      io.env,
    );
    log('debug', `database ${settings.database}`);
    // The store's warnings (an original vmcaster database migrated in place, a lock taken over) are shown;
    // its migration and lock-wait notes only with -v.
    store = await openStore(settings.database, {
      log: (level, message, fields) =>
        log(level === 'warn' || level === 'error' ? level : 'debug', message, { ...fields, name: 'db' }),
    });
    const target = async (): Promise<UploadTarget> => {
      if (facade) return facade;
      const file = findConfigFile(settings);
      if (!file)
        throw new CliError(
          'ERR_CLI_CONFIG',
          `no configuration file: give -C PATH, set VMCASTER_CFG, or create ${settings.configFileCandidates.join(' or ')}`,
        );
      log('debug', `configuration ${file}`);
      const { createUploadFacade, loadUploadConfig } = await import('@hepix/upload-facade');
      const config = await loadUploadConfig(file);
      facade = createUploadFacade({
        config,
        flags: parseFlags(options.flags),
        log: (level, message) =>
          log(level === 'error' ? 'error' : level === 'warn' ? 'warn' : 'debug', message, { name: 'upload' }),
      });
      return facade;
    };
    const passphrase = async (): Promise<string | undefined> => {
      if (options.passphraseFile) {
        try {
          return (await readFile(options.passphraseFile, 'utf8')).replace(/\r?\n$/, '');
        } catch (cause) {
          throw new CliError(
            'ERR_CLI_NOT_FOUND',
            `cannot read the passphrase file ${options.passphraseFile}`,
            {
              cause,
            },
          );
        }
      }
      const env = io.env.VMCASTER_X509_PASSPHRASE;
      if (env !== undefined) return env;
      const keyFile =
        settings.pkcs12 || /\.(p12|pfx)$/i.test(settings.x509Cert) ? settings.x509Cert : settings.x509Key;
      if (io.stdinIsTTY) return promptPassphrase(`Enter pass phrase for ${keyFile}: `);
      return undefined;
    };
    let tls: TlsTrust = { mode: 'browser' };
    if (options.tlsCaFile) {
      try {
        tls = { mode: 'browser', extraCa: [await readFile(options.tlsCaFile, 'utf8')] };
      } catch (cause) {
        throw new CliError('ERR_CLI_NOT_FOUND', `cannot read the CA file ${options.tlsCaFile}`, { cause });
      }
    }
    const ctx: ExecuteContext = {
      signal: aborter.signal,
      store: store.publisher,
      target,
      signing: {
        certificateFile: settings.x509Cert,
        keyFile: settings.x509Key,
        pkcs12: settings.pkcs12,
        passphrase,
      },
      // A preview names the endorser of a PEM certificate; a PKCS#12 one would need its passphrase.
      signerIdentity: async () => {
        const pem = await readFile(settings.x509Cert, 'latin1').catch(() => undefined);
        if (!pem?.includes('-----BEGIN CERTIFICATE-----')) return undefined;
        const { certificateInfo, loadCertificate } = await import('@hepix/smime-x509');
        const info = certificateInfo(await loadCertificate(pem));
        return { subject: info.subject, issuer: info.issuer };
      },
      lifetimeDays: settings.lifetimeDays,
      caDir: settings.caDir,
      noVerify: options.noVerify,
      transport: async () => {
        const { createTransport } = await import('@hepix/transport');
        transport ??= createTransport({ userAgent: `vmcaster/${packageVersion()}`, log });
        return transport;
      },
      tls,
      now: clock,
      log,
      ...(bar ? { onProgress: (phase, done, total) => bar.update(phase, done, total) } : {}),
    };
    const result = await execute(action, ctx);
    bar?.end();
    if (options.json) io.stdout(`${JSON.stringify(result.json, null, 2)}\n`);
    else for (const line of result.text) io.stdout(`${line}\n`);
    for (const w of result.warnings ?? []) log('warn', w);
    return result.exitCode ?? STATUS.OK;
  } catch (err) {
    bar?.end();
    logger.error(err);
    return aborter.signal.aborted ? STATUS.INTERRUPTED : exitCodeFor(err);
  } finally {
    if (io.handleSignals) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    await facade?.dispose();
    await transport?.close();
    await store?.close();
  }
}
