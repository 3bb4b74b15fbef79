// The flag-style command lines of vmcaster 0.0.1+ (`--select-imagelist X --upload-imagelist`) and of the
// noun-first releases before it (`--imagelist X --imagelist-show`, `--connect`, `--update`), translated to a
// Request. Exactly one action per run, as in the original.
import { CliError } from './errors.js';
import { type Action, defaultOptions, type Entity, type GlobalOptions, type Request } from './request.js';

type Value = 'none' | 'required' | 'optional';

interface Spec {
  value: Value;
  apply: (state: State, value: string | undefined) => void;
}

interface State {
  options: GlobalOptions;
  select: Partial<Record<Entity, string>>;
  /** Requested actions in order; more than one is a usage error. */
  actions: { name: string; build: () => Action }[];
  keySet: Partial<Record<Entity, string>>;
  keyValue: Partial<Record<Entity, string>>;
  keyValueFile: Partial<Record<Entity, string>>;
  notes: string[];
  stored?: boolean;
}

const need = (s: State, entity: Entity, flag: string): string => {
  const id = s.select[entity];
  if (id === undefined || id === '') {
    const sel =
      entity === 'imagelist'
        ? '--select-imagelist UUID'
        : entity === 'image'
          ? '--select-image UUID'
          : '--select-endorser DN';
    throw new CliError('ERR_CLI_USAGE', `${flag} needs ${sel}`);
  }
  return id;
};

function action(s: State, name: string, build: () => Action): void {
  s.actions.push({ name, build });
}

function selectIf(s: State, entity: Entity, value: string | undefined): void {
  if (value !== undefined) s.select[entity] = value;
}

const specs = new Map<string, Spec>();
function def(names: string[], value: Value, apply: Spec['apply']): void {
  for (const n of names) specs.set(n, { value, apply });
}

// Global options.
def(['-d', '--database'], 'required', (s, v) => {
  s.options.database = v;
});
def(['-C', '--config-file'], 'required', (s, v) => {
  s.options.configFile = v;
});
def(['-L', '--logcfg', '--logfile'], 'required', (s) => {
  s.notes.push('--logcfg is accepted for compatibility and ignored; use -v/-q');
});
def(['-v', '--verbose'], 'none', (s) => {
  s.options.verbosity++;
});
def(['-q', '--quiet'], 'none', (s) => {
  s.options.verbosity--;
});
def(['--x509-dir'], 'required', (s, v) => {
  s.options.x509Dir = v;
});
def(['--x509-cert'], 'required', (s, v) => {
  s.options.x509Cert = v;
});
def(['--x509-key'], 'required', (s, v) => {
  s.options.x509Key = v;
});
def(['--p12-cert'], 'required', (s, v) => {
  s.options.p12Cert = v;
});
def(['--log-format'], 'required', (s, v) => {
  s.options.logFormat = v;
});
def(['--passphrase-file'], 'required', (s, v) => {
  s.options.passphraseFile = v;
});
def(['--flag'], 'required', (s, v) => {
  s.options.flags.push(v!);
});
def(['--lifetime-imagelist'], 'required', (s, v) => {
  s.options.lifetimeDays = v;
});
def(['--ca-dir'], 'required', (s, v) => {
  s.options.caDir = v;
});
def(['--tls-ca-file'], 'required', (s, v) => {
  s.options.tlsCaFile = v;
});
def(['--stored'], 'none', (s) => {
  s.stored = true;
});
def(['--json'], 'none', (s) => {
  s.options.json = true;
});
def(['--no-verify'], 'none', (s) => {
  s.options.noVerify = true;
});
def(['--no-progress'], 'none', (s) => {
  s.options.progress = false;
});
def(['--download-imagelist-flags'], 'required', () => {});
def(['-h', '--help'], 'none', (s) => action(s, 'help', () => ({ kind: 'help' })));
def(['-V', '--version'], 'none', (s) => action(s, 'version', () => ({ kind: 'version' })));

// Selectors.
def(['--select-imagelist', '--imagelist'], 'required', (s, v) => {
  s.select.imagelist = v;
});
def(['--select-image', '--image'], 'required', (s, v) => {
  s.select.image = v;
});
def(['--select-endorser', '--endorser'], 'required', (s, v) => {
  s.select.endorser = v;
});

// Per-entity actions in both generations.
const entityNames: Record<Entity, { current: string; old: string }> = {
  imagelist: { current: 'imagelist', old: 'imagelist' },
  image: { current: 'image', old: 'image' },
  endorser: { current: 'endorser', old: 'endorser' },
};
for (const entity of Object.keys(entityNames) as Entity[]) {
  def([`--list-${entity}`, `--${entity}-list`], 'none', (s) =>
    action(s, `list ${entity}`, () => ({ kind: 'list', entity })),
  );
  def([`--show-${entity}`, `--${entity}-show`], 'none', (s, _v) =>
    action(s, `show ${entity}`, () => ({
      kind: 'show',
      entity,
      id: need(s, entity, `--show-${entity}`),
      ...(s.stored ? { stored: true } : {}),
    })),
  );
  def([`--add-${entity}`, `--${entity}-add`], 'optional', (s, v) => {
    selectIf(s, entity, v);
    action(s, `add ${entity}`, () => ({ kind: 'add', entity, id: need(s, entity, `--add-${entity}`) }));
  });
  def([`--del-${entity}`, `--${entity}-del`], 'optional', (s, v) => {
    selectIf(s, entity, v);
    action(s, `del ${entity}`, () => ({ kind: 'del', entity, id: need(s, entity, `--del-${entity}`) }));
  });
  def([`--keys-${entity}`, `--${entity}-keys`], 'optional', (s, v) => {
    selectIf(s, entity, v);
    action(s, `keys ${entity}`, () => ({ kind: 'keys', entity, id: need(s, entity, `--keys-${entity}`) }));
  });
  def(
    [`--key-set-${entity}`, `--${entity}-key-set`, `--${entity}-key-add`, `--${entity}-key-update`],
    'required',
    (s, v) => {
      s.keySet[entity] = v;
      action(s, `set ${entity} key`, () => {
        const id = need(s, entity, `--key-set-${entity}`);
        const key = s.keySet[entity]!;
        const file = s.keyValueFile[entity];
        if (file !== undefined) return { kind: 'set-from-file', entity, id, key, file };
        const value = s.keyValue[entity];
        if (value === undefined)
          throw new CliError('ERR_CLI_USAGE', `--key-set-${entity} needs --key-value-${entity} VALUE`);
        return { kind: 'set', entity, id, key, value };
      });
    },
  );
  def([`--key-value-${entity}`, `--${entity}-value`], 'required', (s, v) => {
    s.keyValue[entity] = v;
  });
  def([`--key-value-${entity}-file`, `--${entity}-value-file`], 'required', (s, v) => {
    s.keyValueFile[entity] = v;
  });
  def(
    [`--key-del-${entity}`, `--${entity}-key-del`],
    entity === 'endorser' ? 'optional' : 'required',
    (s, v) => {
      const key = v;
      action(s, `del ${entity} key`, () => {
        if (key === undefined) throw new CliError('ERR_CLI_USAGE', `--key-del-${entity} needs a KEY`);
        return { kind: 'unset', entity, id: need(s, entity, `--key-del-${entity}`), key };
      });
    },
  );
}

// Bindings.
def(['--imagelist-add-endorser', '--connect'], 'none', (s) =>
  action(s, 'bind endorser', () => ({
    kind: 'bind',
    imageList: need(s, 'imagelist', '--imagelist-add-endorser'),
    endorser: need(s, 'endorser', '--imagelist-add-endorser'),
  })),
);
def(['--imagelist-del-endorser', '--disconnect'], 'none', (s) =>
  action(s, 'unbind endorser', () => ({
    kind: 'unbind',
    imageList: need(s, 'imagelist', '--imagelist-del-endorser'),
    endorser: need(s, 'endorser', '--imagelist-del-endorser'),
  })),
);
def(['--imagelist-add-image'], 'none', (s) =>
  action(s, 'bind image', () => ({
    kind: 'bind-image',
    imageList: need(s, 'imagelist', '--imagelist-add-image'),
    image: need(s, 'image', '--imagelist-add-image'),
  })),
);
def(['--imagelist-del-image'], 'none', (s) =>
  action(s, 'unbind image', () => ({
    kind: 'unbind-image',
    imageList: need(s, 'imagelist', '--imagelist-del-image'),
    image: need(s, 'image', '--imagelist-del-image'),
  })),
);
def(['--imagelist-list-endorser'], 'none', (s) =>
  action(s, 'list bound endorsers', () => ({
    kind: 'list-endorsers',
    imageList: need(s, 'imagelist', '--imagelist-list-endorser'),
  })),
);
def(['--imagelist-list-image'], 'none', (s) =>
  action(s, 'list bound images', () => ({
    kind: 'list-images',
    imageList: need(s, 'imagelist', '--imagelist-list-image'),
  })),
);

// Import, download, upload, publish.
def(['--import-imagelist-smime', '--imagelist-import-smime'], 'required', (s, v) =>
  action(s, 'import smime', () => ({ kind: 'import-smime', file: v! })),
);
def(['--import-imagelist-json', '--imagelist-import-json'], 'required', (s, v) =>
  action(s, 'import json', () => ({ kind: 'import-json', file: v! })),
);
def(['--download-imagelist'], 'none', (s) =>
  action(s, 'download', () => ({
    kind: 'download',
    imageList: need(s, 'imagelist', '--download-imagelist'),
  })),
);
def(['--upload-image', '--image-upload'], 'required', (s, v) =>
  action(s, 'upload image', () => ({
    kind: 'upload-image',
    image: need(s, 'image', '--upload-image'),
    file: v!,
  })),
);
def(['--upload-imagelist', '--imagelist-upload', '--update'], 'none', (s) =>
  action(s, 'upload imagelist', () => ({
    kind: 'publish',
    imageList: need(s, 'imagelist', '--upload-imagelist'),
  })),
);

/** All flags the legacy parser understands (for help text and tests). */
export function legacyFlags(): string[] {
  return [...specs.keys()];
}

/** Options that apply to every command rather than selecting or acting (they may come before a subcommand). */
export const GLOBAL_FLAGS: readonly string[] = [
  '-d',
  '--database',
  '-C',
  '--config-file',
  '-L',
  '--logcfg',
  '--logfile',
  '-v',
  '--verbose',
  '-q',
  '--quiet',
  '--x509-dir',
  '--x509-cert',
  '--x509-key',
  '--p12-cert',
  '--log-format',
  '--passphrase-file',
  '--flag',
  '--lifetime-imagelist',
  '--ca-dir',
  '--tls-ca-file',
  '--json',
  '--no-verify',
  '--no-progress',
];

/** Whether a flag of the legacy table takes a value (`-d URL`), for moving global options behind a subcommand. */
export function flagTakesValue(flag: string): boolean | undefined {
  const spec = specs.get(flag);
  return spec ? spec.value === 'required' : undefined;
}

/** Translates a flag-style command line into a Request. Throws ERR_CLI_USAGE. */
export function parseLegacyArgs(argv: readonly string[]): Request {
  const state: State = {
    options: defaultOptions(),
    select: {},
    actions: [],
    keySet: {},
    keyValue: {},
    keyValueFile: {},
    notes: [],
  };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let inline: string | undefined;
    if (arg.startsWith('--') && arg.includes('=')) {
      inline = arg.slice(arg.indexOf('=') + 1);
      arg = arg.slice(0, arg.indexOf('='));
    }
    // Bundled short flags: -vvv.
    if (/^-[vq]{2,}$/.test(arg)) {
      for (const c of arg.slice(1)) specs.get(`-${c}`)!.apply(state, undefined);
      continue;
    }
    const spec = specs.get(arg);
    if (!spec) {
      if (arg.startsWith('-')) throw new CliError('ERR_CLI_USAGE', `unknown option ${arg}`);
      throw new CliError('ERR_CLI_USAGE', `unexpected argument '${arg}'`);
    }
    let value: string | undefined = inline;
    if (spec.value === 'required' && value === undefined) {
      if (i + 1 >= argv.length) throw new CliError('ERR_CLI_USAGE', `${arg} needs a value`);
      value = argv[++i];
    } else if (spec.value === 'optional' && value === undefined) {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('-')) value = argv[++i];
    } else if (spec.value === 'none' && inline !== undefined) {
      throw new CliError('ERR_CLI_USAGE', `${arg} takes no value`);
    }
    spec.apply(state, value);
  }
  if (state.actions.some((a) => a.name === 'help'))
    return { action: { kind: 'help' }, options: state.options, notes: state.notes };
  if (state.actions.length === 0)
    throw new CliError('ERR_CLI_USAGE', 'no action given (see vmcaster --help)');
  if (state.actions.length > 1)
    throw new CliError(
      'ERR_CLI_USAGE',
      `To many actions added: ${state.actions.map((a) => a.name).join(', ')}; give exactly one`,
    );
  return { action: state.actions[0].build(), options: state.options, notes: state.notes };
}
