// The one request shape both command-line styles are translated to; the executor only sees this.

export type Entity = 'endorser' | 'imagelist' | 'image';

export type Action =
  | { kind: 'list'; entity: Entity }
  | {
      kind: 'show';
      entity: Entity;
      id: string /** Image lists: the stored state, not the publish preview. */;
      stored?: boolean;
    }
  | { kind: 'add'; entity: Entity; id: string }
  | { kind: 'del'; entity: Entity; id: string }
  | { kind: 'keys'; entity: Entity; id: string }
  | { kind: 'set'; entity: Entity; id: string; key: string; value: string }
  | { kind: 'set-from-file'; entity: Entity; id: string; key: string; file: string }
  | { kind: 'unset'; entity: Entity; id: string; key: string }
  | { kind: 'bind'; imageList: string; endorser: string }
  | { kind: 'unbind'; imageList: string; endorser: string }
  | { kind: 'bind-image'; imageList: string; image: string }
  | { kind: 'unbind-image'; imageList: string; image: string }
  | { kind: 'list-endorsers'; imageList: string }
  | { kind: 'list-images'; imageList: string }
  | { kind: 'publish'; imageList: string }
  | { kind: 'import-smime'; file: string }
  | { kind: 'import-json'; file: string }
  | { kind: 'download'; imageList: string }
  | { kind: 'upload-image'; image: string; file: string }
  | { kind: 'deprecate'; image: string; reason: string }
  | { kind: 'undeprecate'; image: string }
  | { kind: 'add-location'; image: string; url: string }
  | { kind: 'remove-location'; image: string; url: string }
  | { kind: 'help' }
  | { kind: 'version' };

export interface GlobalOptions {
  database?: string;
  configFile?: string;
  x509Dir?: string;
  x509Cert?: string;
  x509Key?: string;
  /** A PKCS#12 file holding the signing certificate and key (`--p12-cert`). */
  p12Cert?: string;
  lifetimeDays?: string;
  caDir?: string;
  /** Extra CA file for https downloads. */
  tlsCaFile?: string;
  passphraseFile?: string;
  /** Uploader flags (`--flag egiappdb:insert=true`). */
  flags: string[];
  json: boolean;
  /** 0 = default (info); +1 per -v; -1 per -q. */
  verbosity: number;
  noVerify: boolean;
  progress?: boolean;
  /** `text` (default) or `json` lines on stderr. */
  logFormat?: string;
}

export interface Request {
  action: Action;
  options: GlobalOptions;
  /** Notes for the user about the command line itself (deprecated spellings, ignored options). */
  notes: string[];
}

export function defaultOptions(): GlobalOptions {
  return { flags: [], json: false, verbosity: 0, noVerify: false };
}
