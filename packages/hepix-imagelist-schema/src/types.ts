// TypeScript view of src/schema.json. test/types-sync.test.ts parses this file and fails when a key, its
// optionality or its value type drifts from the schema. The types describe what validateImageList() returns in
// the default (compatible) mode; a list that passes strict mode satisfies them too.

/** A value that is a JSON integer, or a string of decimal digits as AppDB sends (`"121243136"`). */
export type IntegerLike = number | string;

/** The X.509 identity of an endorser (`hv:endorser` → `hv:x509`). */
export interface EndorserX509 {
  /** Name of the endorser. */
  'dc:creator': string;
  /** Issuer DN of the endorser certificate, OpenSSL one-line form (`/C=DE/O=GermanGrid/CN=GridKa-CA`). */
  'hv:ca': string;
  /** Subject DN of the endorser certificate, OpenSSL one-line form. */
  'hv:dn': string;
  /** E-mail address of the endorser. */
  'hv:email': string;
  [key: string]: unknown;
}

/** One endorser of a list. */
export interface Endorser {
  'hv:x509': EndorserX509;
  [key: string]: unknown;
}

/** Metadata of one image (`hv:images[n]` → `hv:image`). */
export interface Image {
  'dc:title': string;
  'dc:description': string;
  /** Size in bytes; read it with imageSize(). */
  'hv:size': IntegerLike;
  /** 128 hex digits; lowercase in strict mode. */
  'sl:checksum:sha512': string;
  'sl:arch': string;
  'hv:uri': string;
  'dc:identifier': string;
  'sl:os': string;
  'sl:osversion': string;
  'sl:comments': string;
  'hv:hypervisor': string;
  /** Compared with compareVersions(). */
  'hv:version': string;
  'hv:format'?: string;
  'hv:core_minimum'?: IntegerLike;
  'hv:ram_minimum'?: IntegerLike;
  'sl:osname'?: string;
  /** AppDB marketplace URI; any JSON value in compatible mode (an extension key, kept untouched). */
  'ad:mpuri'?: unknown;
  /** AppDB per-image expiry, not interpreted by the subscriber tools; any JSON value in compatible mode. */
  'dc:date:expires'?: unknown;
  /** Deprecation reason (StratusLab, read by the marketplace); any JSON value in compatible mode. */
  'sl:deprecated'?: unknown;
  /** Further URLs of the image after `hv:uri` (read by the marketplace); any JSON value in compatible mode. */
  'sl:locations'?: unknown;
  [key: string]: unknown;
}

/** One element of `hv:images`. */
export interface ImageEntry {
  'hv:image': Image;
  [key: string]: unknown;
}

/** The body of a list, i.e. the value of `hv:imagelist`. */
export interface ImageListBody {
  /** `YYYY-MM-DDTHH:MM:SSZ`; read it with parseImageListDate(). */
  'dc:date:created': string;
  /** `YYYY-MM-DDTHH:MM:SSZ`; read it with parseImageListDate(). */
  'dc:date:expires': string;
  'dc:identifier': string;
  'dc:description': string;
  'dc:title': string;
  'dc:source': string;
  /** Compared with compareVersions(). */
  'hv:version': string;
  'hv:uri': string;
  /** One endorser; an array only in compatible mode (vmcaster with several endorsers). See listEndorsers(). */
  'hv:endorser': Endorser | Endorser[];
  'hv:images': ImageEntry[];
  /** AppDB virtual organisation; any JSON value in compatible mode (an extension key, kept untouched). */
  'ad:vo'?: unknown;
  [key: string]: unknown;
}

/** A HEPiX image list, always in the wrapped form. */
export interface ImageList {
  'hv:imagelist': ImageListBody;
  [key: string]: unknown;
}

/** How strictly validateImageList() checks. */
export type ValidationMode = 'strict' | 'compatible';
