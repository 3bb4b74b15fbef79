// The OpenAPI 3.1 description of every route the server answers (a test checks both directions).
import { MAX_PAGE_SIZE } from '../store.js';

const str = { type: 'string' } as const;
const nullableStr = { type: ['string', 'null'] } as const;
const dateTime = { type: 'string', format: 'date-time' } as const;
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
const htmlPage = (description: string) => ({ description, content: { 'text/html': { schema: str } } });
const error = (description: string) => json(ref('Error'), description);
const identifierParam = (what: string) => ({
  name: 'identifier',
  in: 'path',
  required: true,
  description: `The ${what}'s dc:identifier.`,
  schema: str,
});

const pageParams = [
  {
    name: 'limit',
    in: 'query',
    description: `Page size (default 50; larger values are clamped to ${MAX_PAGE_SIZE}).`,
    schema: { type: 'integer', minimum: 1 },
  },
  { name: 'offset', in: 'query', description: 'Entries skipped.', schema: { type: 'integer', minimum: 0 } },
];

const filter = (name: string, description: string) => ({ name, in: 'query', description, schema: str });
const imageParams = [
  filter('os', 'sl:os, case-insensitive.'),
  filter('osversion', 'sl:osversion, case-insensitive.'),
  filter('arch', 'sl:arch, case-insensitive.'),
  filter('endorser', "The endorser's DN (any one-line spelling) or e-mail address."),
  filter('vo', "The list's ad:vo, case-insensitive."),
  filter('format', 'hv:format, case-insensitive.'),
  filter('hypervisor', 'hv:hypervisor, case-insensitive.'),
  filter('sha512', 'sl:checksum:sha512.'),
  {
    name: 'status',
    in: 'query',
    description: 'valid (default), expired, deprecated or all.',
    schema: { type: 'string', enum: ['valid', 'expired', 'deprecated', 'all'] },
  },
  filter('q', 'Text contained in the title or description (case-insensitive).'),
  {
    name: 'sort',
    in: 'query',
    description: 'created (default), title or os.',
    schema: { type: 'string', enum: ['created', 'title', 'os'] },
  },
  {
    name: 'order',
    in: 'query',
    description: 'asc or desc (default desc for created, asc otherwise).',
    schema: { type: 'string', enum: ['asc', 'desc'] },
  },
  ...pageParams,
];

const endorser = {
  type: 'object',
  required: ['dn', 'ca', 'email'],
  properties: { dn: str, ca: str, email: str },
};

const imageItemProperties = {
  identifier: str,
  title: str,
  description: str,
  os: str,
  osversion: str,
  arch: str,
  hypervisor: str,
  format: nullableStr,
  size: { type: ['integer', 'null'] },
  sha512: str,
  version: { ...str, description: "The image's hv:version." },
  locations: { type: 'array', items: str, description: 'hv:uri first, then the http/https sl:locations.' },
  endorser: ref('Endorser'),
  list: {
    type: 'object',
    required: ['identifier', 'version'],
    properties: { identifier: str, version: str },
  },
  vo: nullableStr,
  created: dateTime,
  expires: dateTime,
  status: { type: 'string', enum: ['valid', 'expired', 'deprecated'] },
  deprecated: { ...nullableStr, description: 'The sl:deprecated reason, or null.' },
};

const listSummaryProperties = {
  identifier: str,
  version: str,
  title: str,
  description: str,
  uri: str,
  vo: nullableStr,
  endorser: ref('Endorser'),
  created: dateTime,
  expires: dateTime,
  status: { type: 'string', enum: ['valid', 'expired'] },
  images: { type: 'integer', description: 'Number of image entries.' },
  sha512: { ...str, description: 'sha512 of the stored signed bytes.' },
  uploaded: dateTime,
};

const page = (item: string) => ({
  type: 'object',
  required: ['total', 'items'],
  properties: { total: { type: 'integer' }, items: { type: 'array', items: ref(item) } },
});

const signedListBody = {
  required: true,
  description:
    'A signed image list: a whole S/MIME file (any content type), a multipart/signed or application/(x-)pkcs7-mime body, or a multipart form with the file in the field "list".',
  content: {
    'application/pkcs7-mime': { schema: { type: 'string', format: 'binary' } },
    'application/x-pkcs7-mime': { schema: { type: 'string', format: 'binary' } },
    'multipart/signed': { schema: { type: 'string', format: 'binary' } },
    'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
    'multipart/form-data': {
      schema: {
        type: 'object',
        properties: { list: { type: 'string', format: 'binary' } },
        required: ['list'],
      },
    },
  },
};

const ingestErrors = {
  '400': error('The body is empty or malformed (ERR_MARKET_BAD_REQUEST).'),
  '403': error(
    'The signer is not allowed (ERR_MARKET_ENDORSER_NOT_ALLOWED), the list belongs to another endorser (ERR_MARKET_LIST_OWNER), or this is a replica (ERR_MARKET_READ_ONLY).',
  ),
  '409': error('Not newer than the stored list (ERR_MARKET_NOT_NEWER).'),
  '413': error('Larger than the size cap (ERR_MARKET_TOO_LARGE).'),
  '422': error(
    'No signature, a signature that does not verify, not an image list, signer is not the hv:endorser, expired or created in the future.',
  ),
};

export function openApiDocument(info: { title: string; version: string }): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: info.title,
      version: info.version,
      description: 'A registry of endorsed virtual machine images over signed HEPiX image lists.',
    },
    paths: {
      '/api/images': {
        get: {
          summary: 'Search images',
          parameters: imageParams,
          responses: {
            '200': json(page('ImageItem'), 'A page of images.'),
            '400': error('A bad parameter.'),
          },
        },
      },
      '/api/images/{identifier}': {
        get: {
          summary: 'One image, with every list that carries it and its history',
          parameters: [identifierParam('image')],
          responses: { '200': json(ref('ImageDetail'), 'The image.'), '404': error('No such image.') },
        },
      },
      '/api/endorsers': {
        get: {
          summary: 'The endorsers of the stored lists',
          parameters: pageParams,
          responses: {
            '200': json(page('EndorserSummary'), 'A page of endorsers.'),
            '400': error('A bad parameter.'),
          },
        },
      },
      '/api/lists': {
        get: {
          summary: 'The stored lists',
          parameters: pageParams,
          responses: {
            '200': json(page('ListSummary'), 'A page of lists.'),
            '400': error('A bad parameter.'),
          },
        },
        post: {
          summary: 'Upload a signed list',
          requestBody: signedListBody,
          responses: { '201': json(ref('IngestResult'), 'Stored.'), ...ingestErrors },
        },
      },
      '/api/lists/{identifier}': {
        get: {
          summary: 'One list with its versions',
          parameters: [identifierParam('list')],
          responses: { '200': json(ref('ListDetail'), 'The list.'), '404': error('No such list.') },
        },
      },
      '/lists/{identifier}.smime': {
        get: {
          summary: 'The signed list exactly as uploaded (subscribe to this URL)',
          parameters: [identifierParam('list')],
          responses: {
            '200': {
              description: 'The signed bytes.',
              content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
            },
            '404': error('No such list.'),
          },
        },
      },
      '/api/openapi.json': {
        get: { summary: 'This document', responses: { '200': json({ type: 'object' }, 'OpenAPI 3.1.') } },
      },
      '/': {
        get: {
          summary: 'Search page',
          parameters: imageParams,
          responses: { '200': htmlPage('The search form and results.'), '400': htmlPage('A bad parameter.') },
        },
      },
      '/images/{identifier}': {
        get: {
          summary: 'Image page',
          parameters: [identifierParam('image')],
          responses: { '200': htmlPage('Details of the image.'), '404': htmlPage('No such image.') },
        },
      },
      '/endorsers': {
        get: {
          summary: 'Endorsers page',
          parameters: pageParams,
          responses: { '200': htmlPage('The endorsers.') },
        },
      },
      '/upload': {
        get: { summary: 'Upload form', responses: { '200': htmlPage('The form.') } },
        post: {
          summary: 'Upload from the form',
          requestBody: {
            required: true,
            content: {
              'multipart/form-data': signedListBody.content['multipart/form-data'],
            },
          },
          responses: {
            '201': htmlPage('Stored; the page shows the result.'),
            '400': htmlPage('Refused; the page shows the code and the reason (also 403, 409, 413, 422).'),
          },
        },
      },
      '/about': { get: { summary: 'About page', responses: { '200': htmlPage('About this marketplace.') } } },
      '/static/style.css': {
        get: {
          summary: 'The stylesheet',
          responses: { '200': { description: 'CSS.', content: { 'text/css': { schema: str } } } },
        },
      },
    },
    components: {
      schemas: {
        Error: {
          type: 'object',
          required: ['code', 'message'],
          properties: { code: { ...str, description: 'A stable ERR_MARKET_… code.' }, message: str },
        },
        Endorser: endorser,
        EndorserSummary: {
          type: 'object',
          required: ['dn', 'ca', 'email', 'lists', 'images'],
          properties: { ...endorser.properties, lists: { type: 'integer' }, images: { type: 'integer' } },
        },
        ImageItem: {
          type: 'object',
          required: Object.keys(imageItemProperties),
          properties: imageItemProperties,
        },
        ImageHistoryEntry: {
          type: 'object',
          properties: {
            list: imageItemProperties.list,
            version: str,
            sha512: str,
            size: { type: ['integer', 'null'] },
            deprecated: nullableStr,
            created: dateTime,
          },
        },
        ImageDetail: {
          allOf: [
            ref('ImageItem'),
            {
              type: 'object',
              properties: {
                entry: { type: 'object', description: 'The hv:image object as signed.' },
                lists: { type: 'array', items: ref('ImageItem') },
                history: { type: 'array', items: ref('ImageHistoryEntry') },
              },
            },
          ],
        },
        ListSummary: {
          type: 'object',
          required: Object.keys(listSummaryProperties),
          properties: listSummaryProperties,
        },
        ListDetail: {
          allOf: [
            ref('ListSummary'),
            {
              type: 'object',
              properties: {
                imageIdentifiers: { type: 'array', items: str },
                versions: {
                  type: 'array',
                  items: {
                    type: 'object',
                    properties: {
                      version: str,
                      created: dateTime,
                      expires: dateTime,
                      sha512: str,
                      images: { type: 'integer' },
                      uploaded: dateTime,
                    },
                  },
                },
              },
            },
          ],
        },
        IngestResult: {
          type: 'object',
          required: ['identifier', 'version', 'images'],
          properties: {
            identifier: str,
            version: str,
            images: { type: 'integer', description: 'Number of image entries stored.' },
            warnings: { type: 'array', items: str },
          },
        },
      },
    },
  };
}
