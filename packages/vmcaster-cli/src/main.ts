// The whole command-line program as a function: parse (either style), run, print, return the exit status.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createProgressRenderer } from '@hepix/common';
import type { UploadTarget } from '@hepix/imagelist-publisher';
import { openStore } from '@hepix/imagelist-store';
import type { TlsTrust, Transport } from '@hepix/transport';
import type { createUploadFacade } from '@hepix/upload-facade';
import { CliError } from './errors.js';
import { type ExecuteContext, execute } from './execute.js';
import { exitCodeFor, STATUS, STATUS_MEANINGS } from './exit.js';
import { hintFor } from './hints.js';
import { flagTakesValue, GLOBAL_FLAGS, parseLegacyArgs } from './legacy.js';
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

/** The options of both styles: --help, the manual page and the shell completion are made from this table. */
export const GLOBAL_OPTIONS: readonly {
  names: string[];
  metavar?: string;
  help: string;
  choices?: string[];
}[] = [
  {
    names: ['-d', '--database'],
    metavar: 'URL',
    help: 'env VMCASTER_RDBMS, DISH_RDBMS; default sqlite:///vmcaster.db',
  },
  {
    names: ['-C', '--config-file'],
    metavar: 'PATH',
    help: 'env VMCASTER_CFG, DISH_CFG; default ~/.vmcaster.cfg then /etc/vmcaster/vmcaster.cfg',
  },
  { names: ['--x509-dir'], metavar: 'DIR', help: 'env VMCASTER_X509_DIR; default ~/.globus' },
  {
    names: ['--x509-cert'],
    metavar: 'PATH',
    help: 'env VMCASTER_X509_CERT, DISH_CERT; default DIR/usercert.pem',
  },
  {
    names: ['--x509-key'],
    metavar: 'PATH',
    help: 'env VMCASTER_X509_KEY, DISH_KEY; default DIR/userkey.pem',
  },
  {
    names: ['--p12-cert'],
    metavar: 'PATH',
    help: 'sign with a PKCS#12 file (certificate and key; a .p12/.pfx --x509-cert works too)',
  },
  {
    names: ['--passphrase-file'],
    metavar: 'PATH',
    help: 'passphrase of an encrypted key (else env VMCASTER_X509_PASSPHRASE, else a prompt)',
  },
  {
    names: ['--ca-dir'],
    metavar: 'DIR',
    help: 'trust directory for imports; default /etc/grid-security/certificates',
  },
  { names: ['--no-verify'], help: 'import a signed list without verifying it (warns)' },
  { names: ['--tls-ca-file'], metavar: 'PATH', help: 'extra CA certificates for https downloads' },
  { names: ['--flag'], metavar: 'F', help: 'uploader flag (repeatable)' },
  { names: ['--json'], help: 'JSON output for listings and shows' },
  { names: ['-v', '--verbose'], help: 'more messages (repeatable)' },
  { names: ['-q', '--quiet'], help: 'fewer messages (repeatable)' },
  {
    names: ['--log-format'],
    metavar: 'text|json',
    choices: ['text', 'json'],
    help: 'messages on stderr as text lines (default) or JSON objects',
  },
  { names: ['--no-progress'], help: 'no progress lines on a terminal (none are drawn elsewhere)' },
  { names: ['-h', '--help'], help: 'this help; vmcaster NOUN VERB --help for a subcommand' },
  { names: ['-V', '--version'], help: 'print vmcaster VERSION' },
];

export const EXAMPLES: readonly { command: string; text: string }[] = [
  { command: 'vmcaster imagelist add LIST', text: 'create an image list' },
  { command: 'vmcaster imagelist set LIST dc:title "My images"', text: 'set a key of the list' },
  { command: 'vmcaster image upload disk.img --image IMAGE', text: 'upload a new version of an image' },
  { command: 'vmcaster -C ~/.vmcaster.cfg imagelist publish LIST', text: 'sign and upload the list' },
  { command: 'vmcaster --select-imagelist LIST --upload-imagelist', text: 'the same in the flag style' },
  { command: 'source <(vmcaster completion bash)', text: 'complete commands and options in bash' },
];

function globalOptionHelp(): string {
  return GLOBAL_OPTIONS.map((o) => {
    const names = o.names.join(', ') + (o.metavar ? ` ${o.metavar}` : '');
    return `  ${names.padEnd(22)}  ${o.help}`;
  }).join('\n');
}

function exampleHelp(): string {
  return EXAMPLES.map((e) => `  ${e.command}\n      ${e.text}`).join('\n');
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

Options (both styles; before a subcommand too):
${globalOptionHelp()}

Examples:
${exampleHelp()}

Exit statuses:
${exitStatusHelp()}
`;

/** `--flag egiappdb:insert=true` → `{ 'egiappdb:insert': 'true' }`; a bare name means `true`. */
function parseFlags(flags: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of flags) {
    const eq = f.indexOf('=');
    if (eq < 0) out[f] = 'true';
    else out[f.slice(0, eq)] = f.slice(eq + 1);
  }
  return out;
}

/**
 * The upload's progress on a terminal: the renderer of @hepix/common (the one vmcatcher_cache draws with), one
 * line per phase (hash, compress, upload), a summary at the end; log lines are written above it.
 */
function progressBar(io: CliIo) {
  const renderer = createProgressRenderer({
    write: (t) => io.stderr(t),
    columns: () => process.stderr.columns,
    verb: 'uploaded',
  });
  let current: string | undefined;
  return {
    update(phase: string, done: number, total: number | undefined) {
      if (current !== phase) {
        // Hashing and compressing prepare the upload: only the upload counts in the summary.
        if (current) renderer.finish(current, true, current === 'upload');
        current = phase;
      }
      renderer.update(phase, done, total, phase.padEnd(8));
    },
    interrupt: (fn: () => void) => renderer.interrupt(fn),
    end(ok = true) {
      if (current) renderer.finish(current, ok, current === 'upload');
      current = undefined;
      renderer.end();
    },
  };
}

/**
 * `vmcaster -C FILE -v imagelist publish UUID`: global options before a subcommand move behind it, where the
 * subcommand's parser reads them. Anything else before the subcommand keeps the flag style.
 */
export function hoistGlobalOptions(argv: readonly string[]): string[] {
  const globals: string[] = [];
  let i = 0;
  while (i < argv.length && !MODERN_COMMANDS.includes(argv[i])) {
    const arg = argv[i];
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    // Clustered short counters (-vv, -qq).
    if (/^-[vq]{2,}$/.test(arg)) {
      globals.push(arg);
      i++;
      continue;
    }
    if (!GLOBAL_FLAGS.includes(name)) return [...argv];
    const needsValue = flagTakesValue(name) === true && eq < 0;
    if (needsValue && i + 1 >= argv.length) return [...argv];
    // The subcommands spell --lifetime-imagelist as --lifetime.
    const taken = argv.slice(i, needsValue ? i + 2 : i + 1);
    if (name === '--lifetime-imagelist') taken[0] = taken[0].replace('--lifetime-imagelist', '--lifetime');
    globals.push(...taken);
    i += needsValue ? 2 : 1;
  }
  if (i >= argv.length || globals.length === 0) return [...argv];
  // A subcommand reads --flag and -v/-q from anywhere; the rest as its own options.
  return [...argv.slice(i), ...globals];
}

async function parse(input: string[]): Promise<Request | { usage: string }> {
  const argv = hoistGlobalOptions(input);
  if (argv.length > 0 && MODERN_COMMANDS.includes(argv[0])) {
    const parsed = await parseModernArgs(argv);
    if (!('usage' in parsed)) return parsed;
    // A subcommand's --help: its usage, the examples of its noun, and the exit statuses.
    const examples = EXAMPLES.filter((e) => e.command.includes(` ${argv[0]} `));
    return {
      usage: `${parsed.usage.trimEnd()}\n\nExamples:\n${(examples.length ? examples : EXAMPLES)
        .map((e) => `  ${e.command}\n      ${e.text}`)
        .join('\n')}\n\nExit statuses:\n${exitStatusHelp()}\n`,
    };
  }
  if (argv[0] === 'help') return { usage: HELP };
  if (argv[0] === 'completion') {
    if (argv[1] === '--help' || argv[1] === '-h')
      return {
        usage: `Usage: vmcaster completion bash|zsh\n\nPrints the shell completion script of vmcaster.\n\nExamples:\n  source <(vmcaster completion bash)\n      in ~/.bashrc\n  source <(vmcaster completion zsh)\n      in ~/.zshrc\n\nExit statuses:\n    0  the script was printed\n    2  usage error\n`,
      };
    if (argv.length > 2) throw new CliError('ERR_CLI_USAGE', 'usage: vmcaster completion bash|zsh');
    // Loaded when asked for: it builds the whole subcommand tree.
    return { usage: (await import('./docs.js')).completionScript(argv[1]) };
  }
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
  // Messages go above the progress lines while a transfer is drawn.
  let interrupt: ((fn: () => void) => void) | undefined;
  const stderr = (text: string) => (interrupt ? interrupt(() => io.stderr(text)) : io.stderr(text));
  let logger: ReturnType<typeof createCliLogger>;
  try {
    logger = createCliLogger(stderr, options.verbosity, parseLogFormat(options.logFormat), clock);
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
    io.stdout(`vmcaster ${packageVersion()}\n`);
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
  let database: string | undefined;
  let facade: ReturnType<typeof createUploadFacade> | undefined;
  let transport: Transport | undefined;
  const bar =
    io.stderrIsTTY && options.progress !== false && !options.json && options.verbosity >= 0
      ? progressBar(io)
      : undefined;
  interrupt = bar?.interrupt;
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
    database = settings.database;
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
    bar?.end(false);
    logger.error(err);
    const hint = hintFor(err, database);
    if (hint) log('error', `hint: ${hint}`, { name: 'hint' });
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
