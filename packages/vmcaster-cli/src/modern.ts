// The subcommand interface (`vmcaster image upload FILE --image UUID`), built with citty. Each leaf only
// builds a Request; the same executor as for the flag style runs it.
import {
  type ArgsDef,
  type CommandDef,
  type CommandMeta,
  defineCommand,
  renderUsage,
  runCommand,
} from 'citty';
import { CliError } from './errors.js';
import { type Action, defaultOptions, type Entity, type GlobalOptions, type Request } from './request.js';

const common = {
  database: {
    type: 'string',
    alias: 'd',
    description: 'store URL (env VMCASTER_RDBMS; default sqlite:///vmcaster.db)',
  },
  'config-file': {
    type: 'string',
    alias: 'C',
    description:
      'upload configuration (env VMCASTER_CFG; default ~/.vmcaster.cfg, /etc/vmcaster/vmcaster.cfg)',
  },
  json: { type: 'boolean', description: 'print JSON' },
  verbose: { type: 'boolean', alias: 'v', description: 'more messages (repeatable)' },
  quiet: { type: 'boolean', alias: 'q', description: 'fewer messages (repeatable)' },
  'log-format': { type: 'string', description: 'text (default) or json lines on stderr' },
} as const satisfies ArgsDef;

const signing = {
  'x509-dir': {
    type: 'string',
    description: 'directory of usercert.pem/userkey.pem (env VMCASTER_X509_DIR; default ~/.globus)',
  },
  'x509-cert': { type: 'string', description: 'signing certificate (env VMCASTER_X509_CERT)' },
  'x509-key': { type: 'string', description: 'private key (env VMCASTER_X509_KEY)' },
  'p12-cert': {
    type: 'string',
    description: 'PKCS#12 file with the signing certificate and key (instead of --x509-cert/--x509-key)',
  },
  'passphrase-file': {
    type: 'string',
    description: 'file holding the key passphrase (or env VMCASTER_X509_PASSPHRASE)',
  },
  lifetime: {
    type: 'string',
    description: 'days until dc:date:expires (env VMCASTER_IMAGELIST_LIFETIME; default 28)',
  },
  flag: { type: 'string', description: 'uploader flag, e.g. egiappdb:insert=true' },
} as const satisfies ArgsDef;

const verifying = {
  'ca-dir': {
    type: 'string',
    description:
      'trust directory (env VMCASTER_CA_DIR/X509_CERT_DIR; default /etc/grid-security/certificates)',
  },
  'tls-ca-file': { type: 'string', description: 'extra CA certificates (PEM) for https downloads' },
  verify: {
    type: 'boolean',
    default: true,
    negativeDescription: 'import without verifying the signature (warns)',
  },
} as const satisfies ArgsDef;

type Parsed = Record<string, unknown> & { _: string[] };

interface Holder {
  request?: Request;
  rawArgs: string[];
}

function options(args: Parsed, raw: string[]): GlobalOptions {
  const o = defaultOptions();
  const str = (k: string) =>
    typeof args[k] === 'string' && args[k] !== '' ? (args[k] as string) : undefined;
  o.database = str('database');
  o.configFile = str('config-file');
  o.x509Dir = str('x509-dir');
  o.x509Cert = str('x509-cert');
  o.x509Key = str('x509-key');
  o.p12Cert = str('p12-cert');
  o.logFormat = str('log-format');
  o.passphraseFile = str('passphrase-file');
  o.lifetimeDays = str('lifetime');
  o.caDir = str('ca-dir');
  o.tlsCaFile = str('tls-ca-file');
  o.json = args.json === true;
  o.noVerify = args.verify === false;
  // Count repeated -v/-q, which citty folds into one boolean.
  for (const a of raw) {
    if (a === '--verbose') o.verbosity++;
    else if (a === '--quiet') o.verbosity--;
    else if (/^-[vq]+$/.test(a)) for (const c of a.slice(1)) o.verbosity += c === 'v' ? 1 : -1;
  }
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === '--flag' && raw[i + 1] !== undefined) o.flags.push(raw[++i]);
    else if (raw[i].startsWith('--flag=')) o.flags.push(raw[i].slice(7));
  }
  return o;
}

function leaf<T extends ArgsDef>(
  holder: Holder,
  description: string,
  args: T,
  build: (args: Parsed) => Action,
): CommandDef<ArgsDef> {
  return defineCommand({
    meta: { description },
    args: { ...common, ...args } as ArgsDef,
    run: ({ args: parsed }) => {
      const a = parsed as unknown as Parsed;
      holder.request = { action: build(a), options: options(a, holder.rawArgs), notes: [] };
    },
  });
}

function required(args: Parsed, name: string, ...alternatives: string[]): string {
  for (const k of [name, ...alternatives]) {
    const v = args[k];
    if (typeof v === 'string' && v !== '') return v;
  }
  throw new CliError('ERR_CLI_USAGE', `missing ${name.toUpperCase()}`);
}

const id = (label: string) => ({ id: { type: 'positional', required: false, description: label } }) as const;
const keyArgs = {
  key: { type: 'positional', required: false, description: 'metadata key, e.g. dc:title' },
  value: { type: 'positional', required: false, description: 'value' },
  'value-file': { type: 'string', description: 'read the value from this file' },
} as const;

function entityCommands(
  holder: Holder,
  entity: Entity,
  label: string,
  extra: Record<string, CommandDef<ArgsDef>>,
) {
  const opt = entity === 'endorser' ? 'endorser' : entity === 'imagelist' ? 'imagelist' : 'image';
  const noun = entity === 'imagelist' ? 'image list' : entity;
  const an = 'an';
  const sel = {
    [opt]: { type: 'string', description: `${label} (instead of the positional argument)` },
  } as ArgsDef;
  const who = (a: Parsed) => required(a, 'id', opt);
  return defineCommand({
    meta: { description: `manage ${entity === 'imagelist' ? 'image lists' : `${entity}s`}` },
    subCommands: {
      list: leaf(holder, `list ${noun} identifiers`, {}, () => ({ kind: 'list', entity })),
      show: leaf(
        holder,
        entity === 'imagelist'
          ? 'show the list as the next publish would make it, strictly validated (--stored: as stored)'
          : `show one ${noun} as JSON`,
        {
          ...id(label),
          ...sel,
          ...(entity === 'imagelist'
            ? {
                stored: {
                  type: 'boolean',
                  description: 'the stored state, without the next version and dates',
                },
              }
            : {}),
        } as ArgsDef,
        (a) => ({ kind: 'show', entity, id: who(a), ...(a.stored === true ? { stored: true } : {}) }),
      ),
      add: leaf(holder, `create ${an} ${noun}`, { ...id(label), ...sel }, (a) => ({
        kind: 'add',
        entity,
        id: who(a),
      })),
      del: leaf(holder, `delete ${an} ${noun}`, { ...id(label), ...sel }, (a) => ({
        kind: 'del',
        entity,
        id: who(a),
      })),
      keys: leaf(holder, `list the metadata keys of ${an} ${noun}`, { ...id(label), ...sel }, (a) => ({
        kind: 'keys',
        entity,
        id: who(a),
      })),
      set: leaf(
        holder,
        `set a metadata key: set ${label.toUpperCase()} KEY VALUE`,
        { ...id(label), ...keyArgs, ...sel },
        (a) => {
          const file = typeof a['value-file'] === 'string' ? (a['value-file'] as string) : undefined;
          const key = required(a, 'key');
          if (file) return { kind: 'set-from-file', entity, id: who(a), key, file };
          return { kind: 'set', entity, id: who(a), key, value: required(a, 'value') };
        },
      ),
      unset: leaf(
        holder,
        `delete a metadata key: unset ${label.toUpperCase()} KEY`,
        { ...id(label), key: keyArgs.key, ...sel },
        (a) => ({
          kind: 'unset',
          entity,
          id: who(a),
          key: required(a, 'key'),
        }),
      ),
      ...extra,
    },
  }) as CommandDef<ArgsDef>;
}

export function buildModernCommand(holder: Holder): CommandDef<ArgsDef> {
  const pair = {
    imagelist: { type: 'positional', required: false, description: 'image list UUID' },
    other: { type: 'positional', required: false, description: 'endorser DN or image UUID' },
    endorser: { type: 'string', description: 'endorser DN' },
    image: { type: 'string', description: 'image UUID' },
  } as const;
  const listSel = {
    ...id('image list UUID'),
    imagelist: { type: 'string', description: 'image list UUID' },
  } as const;
  const imagelist = entityCommands(holder, 'imagelist', 'image list UUID', {
    'bind-endorser': leaf(holder, 'bind an endorser to a list: bind-endorser UUID DN', pair, (a) => ({
      kind: 'bind',
      imageList: required(a, 'imagelist'),
      endorser: required(a, 'other', 'endorser'),
    })),
    'unbind-endorser': leaf(holder, 'unbind an endorser from a list', pair, (a) => ({
      kind: 'unbind',
      imageList: required(a, 'imagelist'),
      endorser: required(a, 'other', 'endorser'),
    })),
    'bind-image': leaf(
      holder,
      'bind an image to a list (creating the image if needed): bind-image UUID IMAGE',
      pair,
      (a) => ({
        kind: 'bind-image',
        imageList: required(a, 'imagelist'),
        image: required(a, 'other', 'image'),
      }),
    ),
    'unbind-image': leaf(holder, 'unbind an image from a list', pair, (a) => ({
      kind: 'unbind-image',
      imageList: required(a, 'imagelist'),
      image: required(a, 'other', 'image'),
    })),
    endorsers: leaf(holder, 'list the endorsers bound to a list', listSel, (a) => ({
      kind: 'list-endorsers',
      imageList: required(a, 'id', 'imagelist'),
    })),
    images: leaf(holder, 'list the images bound to a list', listSel, (a) => ({
      kind: 'list-images',
      imageList: required(a, 'id', 'imagelist'),
    })),
    publish: leaf(holder, 'bump, date, sign and upload a list', { ...listSel, ...signing }, (a) => ({
      kind: 'publish',
      imageList: required(a, 'id', 'imagelist'),
    })),
    'import-smime': leaf(
      holder,
      'import a signed list (verified against --ca-dir)',
      { file: { type: 'positional', required: true, description: 'signed list' }, ...verifying },
      (a) => ({
        kind: 'import-smime',
        file: required(a, 'file'),
      }),
    ),
    'import-json': leaf(
      holder,
      'import an unsigned JSON list',
      { file: { type: 'positional', required: true, description: 'JSON list' } },
      (a) => ({
        kind: 'import-json',
        file: required(a, 'file'),
      }),
    ),
    download: leaf(
      holder,
      'download a list from its hv:uri, verify and import it',
      { ...listSel, ...verifying },
      (a) => ({
        kind: 'download',
        imageList: required(a, 'id', 'imagelist'),
      }),
    ),
  });
  const image = entityCommands(holder, 'image', 'image UUID', {
    upload: leaf(
      holder,
      'upload a new version of an image: upload FILE --image UUID',
      {
        file: { type: 'positional', required: false, description: 'image file' },
        image: { type: 'string', description: 'image UUID' },
        'no-progress': { type: 'boolean', description: 'no progress bar' },
        flag: signing.flag,
      },
      (a) => ({ kind: 'upload-image', file: required(a, 'file'), image: required(a, 'image') }),
    ),
    deprecate: leaf(
      holder,
      'mark an image deprecated (sl:deprecated, published by the next list upload): deprecate UUID --reason TEXT',
      {
        ...id('image UUID'),
        image: { type: 'string', description: 'image UUID' },
        reason: { type: 'string', description: 'why subscribers should move away from it' },
      },
      (a) => ({ kind: 'deprecate', image: required(a, 'id', 'image'), reason: required(a, 'reason') }),
    ),
    undeprecate: leaf(
      holder,
      'remove the deprecation of an image: undeprecate UUID',
      { ...id('image UUID'), image: { type: 'string', description: 'image UUID' } },
      (a) => ({ kind: 'undeprecate', image: required(a, 'id', 'image') }),
    ),
    'add-location': leaf(
      holder,
      'add a further URL of the same bytes (sl:locations): add-location UUID URL',
      { ...id('image UUID'), url: { type: 'positional', required: false, description: 'http(s) URL' } },
      (a) => ({ kind: 'add-location', image: required(a, 'id'), url: required(a, 'url') }),
    ),
    'remove-location': leaf(
      holder,
      'remove a URL from sl:locations: remove-location UUID URL',
      { ...id('image UUID'), url: { type: 'positional', required: false, description: 'http(s) URL' } },
      (a) => ({ kind: 'remove-location', image: required(a, 'id'), url: required(a, 'url') }),
    ),
  });
  const endorser = entityCommands(holder, 'endorser', 'endorser DN', {});
  return defineCommand({
    meta: { name: 'vmcaster', description: 'publish signed HEPiX image lists and their images' },
    subCommands: { endorser, imagelist, image },
  }) as CommandDef<ArgsDef>;
}

export const MODERN_COMMANDS = ['endorser', 'imagelist', 'image'];

/** Parses a subcommand command line into a Request. Returns `{ usage }` for --help. */
export async function parseModernArgs(argv: string[]): Promise<Request | { usage: string }> {
  const holder: Holder = { rawArgs: argv };
  const root = buildModernCommand(holder);
  if (argv.includes('--help') || argv.includes('-h')) {
    // Find the deepest command named on the line and render its usage.
    let cmd: CommandDef<ArgsDef> = root;
    const path: string[] = [];
    for (const a of argv) {
      const subs = (cmd.subCommands ?? {}) as Record<string, CommandDef<ArgsDef>>;
      if (subs[a]) {
        path.push(a);
        cmd = subs[a];
      }
    }
    if (path.length === 0) return { usage: await renderUsage(root) };
    const meta = (cmd.meta ?? {}) as CommandMeta;
    const named = { ...cmd, meta: { ...meta, name: path[path.length - 1] } };
    const parent = { meta: { name: ['vmcaster', ...path.slice(0, -1)].join(' ') } };
    return { usage: (await renderUsage(named, parent)).replace(/\x1b\[[0-9;]*m/g, '') };
  }
  try {
    await runCommand(root, { rawArgs: argv });
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError('ERR_CLI_USAGE', (err as Error).message.replace(/\x1b\[[0-9;]*m/g, ''), {
      cause: err,
    });
  }
  if (!holder.request) throw new CliError('ERR_CLI_USAGE', 'no command given (see vmcaster --help)');
  if (argv.includes('--no-progress')) holder.request.options.progress = false;
  return holder.request;
}
