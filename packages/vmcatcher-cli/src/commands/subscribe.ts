// vmcatcher_subscribe: subscribe to lists, update them, show and change subscriptions (reference §3.2).
// @hepix/image-cache (with the S/MIME stack) is loaded only by the actions that verify lists: listing stays fast.

import { randomUUID } from 'node:crypto';
import type {
  NewImageEvent,
  Subscriptions,
  SubscriptionUpdateResult,
  VmcatcherEvent,
} from '@hepix/image-cache';
import type {
  RunOutcome,
  RunRecorder,
  Store,
  Subscription,
  TrustAnchorMode,
  UpdateMode,
} from '@hepix/imagelist-store';
import type { SitePolicy } from '@hepix/site-policy';
import {
  CliError,
  type CliIo,
  COMMON_EXIT_STATUSES,
  type CommonContext,
  certDirFrom,
  emit,
  exitCodeFor,
  fmtDate,
  processIo,
  runTool,
  type ToolDefinition,
  withStore,
} from '../common/context.js';
import { EXIT, statusSeverity, worstStatus } from '../common/exit.js';
import {
  imageJson,
  jsonText,
  policyJson,
  subscriptionInfoLines,
  subscriptionJson,
  subscriptionListLine,
  TRUST_ANCHOR_NAMES,
} from '../common/format.js';
import { flag, list, type OptionSpec, str } from '../common/options.js';
import { POLICY_OPTION, policyFrom } from '../common/policy.js';
import { PROMETHEUS_OPTION, recordedRun, writePrometheus } from '../common/runs.js';
import { TRANSFER_LIMIT_OPTIONS, transferLimitsFrom } from './limits.js';

/** The URL with any password replaced (no dependency on the verification stack). */
function redactUrl(url: string): string {
  return url.replace(/\/\/([^/@:]*):[^/@]*@/, '//$1:***@');
}

/** The original vmcatcher's status of one subscription's update: its error's, 32 for refused images, or 0. */
function updateStatus(r: SubscriptionUpdateResult): number {
  if (r.error) return exitCodeFor(r.error).exitCode;
  return r.refused.length ? EXIT.ERR_SUB_IMAGE_REFUSED : 0;
}

/** VMCATCHER_ALLOW_UNRESTRICTED_CA=1 (or true/yes) as --allow-unrestricted-ca. */
function envFlag(value: string | undefined): boolean {
  return value !== undefined && ['1', 'true', 'yes'].includes(value.trim().toLowerCase());
}

export const SUBSCRIBE_OPTIONS: OptionSpec[] = [
  { dest: 'list', short: 'l', long: ['list'], kind: 'flag', help: 'List subscriptions.' },
  {
    dest: 'subscribe',
    short: 's',
    long: ['subscribe'],
    kind: 'append',
    metavar: 'URL',
    help: 'Subscribe to the image list at URL (file, http, https).',
  },
  {
    dest: 'autoEndorse',
    short: 'e',
    long: ['auto-endorse'],
    kind: 'flag',
    help: 'Create the endorser from the signed list when unknown (less secure).',
  },
  {
    dest: 'certDir',
    short: 'c',
    long: ['cert-dir'],
    kind: 'value',
    metavar: 'DIR',
    help: 'Trust anchor directory (env VMCATCHER_DIR_CERT, default /etc/grid-security/certificates/).',
  },
  {
    dest: 'update',
    short: 'U',
    long: ['update'],
    kind: 'flag',
    help: 'Update the (selected) subscriptions.',
  },
  {
    dest: 'uuid',
    short: 'u',
    long: ['uuid', 'uid'],
    kind: 'append',
    metavar: 'UUID',
    help: 'Select subscriptions by identifier.',
  },
  {
    dest: 'uri',
    short: 'r',
    long: ['uri'],
    kind: 'append',
    metavar: 'URL',
    help: 'Select subscriptions by URI (exact).',
  },
  { dest: 'delete', short: 'D', long: ['delete'], kind: 'flag', help: 'Delete the selected subscriptions.' },
  { dest: 'info', short: 'i', long: ['info'], kind: 'flag', help: 'Show the selected subscriptions.' },
  {
    dest: 'output',
    short: 'o',
    long: ['output'],
    kind: 'append',
    metavar: 'FILE',
    help: 'With -i: output file per selection, paired by position.',
  },
  {
    dest: 'imageList',
    long: ['image-list'],
    kind: 'flag',
    help: 'List the images of the selected subscriptions.',
  },
  {
    dest: 'imageAccept',
    long: ['image-accept'],
    kind: 'append',
    metavar: 'IMAGEUUID',
    help: 'Pre-register an image in the subscription selected by position.',
  },
  {
    dest: 'imageRefuse',
    long: ['image-refuse'],
    kind: 'append',
    metavar: 'IMAGEUUID',
    help: 'Remove an image from the subscription selected by position.',
  },
  {
    dest: 'newAccept',
    long: ['imagelist-newimage-accept'],
    kind: 'flag',
    help: 'New images in updates are registered (update mode 1).',
  },
  {
    dest: 'newSubscribe',
    long: ['imagelist-newimage-subscribe'],
    kind: 'flag',
    help: 'New images are registered and subscribed for caching (update mode 3).',
  },
  {
    dest: 'newRefuse',
    long: ['imagelist-newimage-refuse'],
    kind: 'flag',
    help: 'New images are ignored (update mode 0, the default).',
  },
  {
    dest: 'trustAnchor',
    long: ['uri-trustanchor-set'],
    kind: 'value',
    metavar: 'none|browser|igtf',
    help: 'How the https server is authenticated.',
  },
  {
    dest: 'usernameSet',
    long: ['uri-username-set'],
    kind: 'value',
    metavar: 'USER',
    help: 'Basic-auth user name.',
  },
  {
    dest: 'usernameClear',
    long: ['uri-username-clear'],
    kind: 'flag',
    help: 'Remove the Basic-auth user name.',
  },
  {
    dest: 'passwordSet',
    long: ['uri-password-set'],
    kind: 'value',
    metavar: 'PASSWORD',
    help: 'Basic-auth password (never printed).',
  },
  {
    dest: 'passwordClear',
    long: ['uri-password-clear'],
    kind: 'flag',
    help: 'Remove the Basic-auth password.',
  },
  {
    dest: 'execute',
    short: 'x',
    long: ['execute'],
    kind: 'value',
    metavar: 'CMD',
    help: 'Command run for SubscriptionImageNew events (env VMCATCHER_SUB_EVENT).',
  },
  {
    dest: 'concurrency',
    long: ['concurrency'],
    kind: 'value',
    metavar: 'N',
    help: 'Subscriptions fetched and verified at once during -U (default 8).',
  },
  ...TRANSFER_LIMIT_OPTIONS,
  {
    dest: 'allowUnrestrictedCa',
    long: ['allow-unrestricted-ca'],
    kind: 'flag',
    help: 'Accept CAs without a .namespaces/.signing_policy file and self-signed signers, with a warning (env VMCATCHER_ALLOW_UNRESTRICTED_CA=1).',
  },
  POLICY_OPTION,
  PROMETHEUS_OPTION,
];

const ACTIONS = [
  'list',
  'subscribe',
  'update',
  'delete',
  'info',
  'imageList',
  'imageAccept',
  'imageRefuse',
] as const;

export const SUBSCRIBE_TOOL: ToolDefinition = {
  name: 'vmcatcher_subscribe',
  usage: 'vmcatcher_subscribe [options]',
  description: 'Subscribe to signed HEPiX image lists and keep them up to date.',
  options: SUBSCRIBE_OPTIONS,
  examples: [
    {
      command: 'vmcatcher_subscribe -s https://cernvm.cern.ch/releases/image.list -e',
      text: 'subscribe to a list, creating its endorser from the signature',
    },
    { command: 'vmcatcher_subscribe -U', text: 'update every subscription (cron, the systemd timer)' },
    { command: 'vmcatcher_subscribe -l --json', text: 'list the subscriptions as JSON' },
    {
      command: 'vmcatcher_subscribe -u LIST --imagelist-newimage-subscribe',
      text: 'cache the new images of LIST from now on',
    },
  ],
  exitStatus: [
    ...COMMON_EXIT_STATUSES,
    [10, 'download failed (also past --fetch-timeout or below --min-rate)'],
    [11, 'signature validation failed (revoked, expired, untrusted CA, no CRL, …)'],
    [12, 'the signer does not match the endorser'],
    [13, 'endorser not authorised'],
    [14, 'no trust anchor'],
    [15, 'conflict (already subscribed)'],
    [17, 'lower version than the stored list'],
    [18, 'rollback: created before the stored list'],
    [31, 'identifier mismatch'],
    [32, 'new images refused (the list was imported)'],
    [33, 'created in the future'],
    [34, 'expired'],
    [37, 'not JSON'],
    [38, 'not an image list'],
    [39, '--image-accept of an image already registered'],
    [50, 'the https server was not authenticated'],
  ],
};

export function runSubscribeCommand(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  io: CliIo = processIo,
): Promise<number> {
  return runTool(SUBSCRIBE_TOOL, argv, env, io, subscribeMain);
}

function updateModeOption(ctx: CommonContext): UpdateMode | undefined {
  const o = ctx.options;
  const set = [flag(o, 'newRefuse') && 0, flag(o, 'newAccept') && 1, flag(o, 'newSubscribe') && 3].filter(
    (v): v is UpdateMode => v !== false,
  );
  if (set.length > 1) throw new CliError('ERR_CLI_ACTION', 'Conflicting --imagelist-newimage-* options.');
  return set[0];
}

function trustAnchorOption(ctx: CommonContext): TrustAnchorMode | undefined {
  const v = str(ctx.options, 'trustAnchor');
  if (v === undefined) return undefined;
  const m = v.toLowerCase();
  if (m !== 'none' && m !== 'browser' && m !== 'igtf')
    throw new CliError('ERR_CLI_USAGE_VALUE', `Invalid trust anchor '${v}': use none, browser or igtf`);
  return m;
}

function eventHandler(
  imageCache: typeof import('@hepix/image-cache'),
  ctx: CommonContext,
  store: Store,
  certDir: string,
): ((e: NewImageEvent) => Promise<void>) | undefined {
  const command = str(ctx.options, 'execute') ?? ctx.env.VMCATCHER_SUB_EVENT;
  if (!command) return undefined;
  const session = randomUUID();
  return async (e) => {
    const metadata: Record<string, unknown> = { ...e.image };
    for (const [k, v] of Object.entries(e.image)) metadata[`hv:image.${k}`] = v;
    metadata['hv:imagelist.dc:identifier'] = e.subscription.identifier;
    if (e.imageList['ad:vo'] !== undefined) metadata['hv:imagelist.ad:vo'] = e.imageList['ad:vo'];
    const event: VmcatcherEvent = { type: 'SubscriptionImageNew', session, metadata, database: store.url };
    // A failed or timed-out delivery is recorded for `vmcatcher_cache --retry-events`.
    const r = await imageCache.deliverEvent(store, command, event, {
      env: { ...ctx.env, VMCATCHER_DIR_CERT: certDir },
      log: (level, msg, fields) => ctx.log(level, msg, { name: 'events', ...fields }),
    });
    if (!r.delivered) {
      ctx.log(
        'error',
        `Event SubscriptionImageNew command failed (${r.timedOut ? 'timed out' : `exit ${r.exitCode ?? r.signal}`})` +
          (r.failedEventId !== undefined ? '; recorded for vmcatcher_cache --retry-events' : ''),
        { name: 'events' },
      );
      if (r.stdout) ctx.log('info', `stdout: ${r.stdout.trimEnd()}`, { name: 'events' });
      if (r.stderr) ctx.log('info', `stderr: ${r.stderr.trimEnd()}`, { name: 'events' });
    }
  };
}

async function engine(
  ctx: CommonContext,
  store: Store,
  certDir: string,
  policy?: SitePolicy,
): Promise<Subscriptions> {
  const imageCache = await import('@hepix/image-cache');
  const onNewImage = eventHandler(imageCache, ctx, store, certDir);
  const allowUnrestrictedCa =
    flag(ctx.options, 'allowUnrestrictedCa') || envFlag(ctx.env.VMCATCHER_ALLOW_UNRESTRICTED_CA);
  if (allowUnrestrictedCa)
    ctx.log('warn', 'CAs without a namespace or signing policy file, and self-signed signers, are accepted');
  return imageCache.createSubscriptions({
    store,
    certDir,
    allowUnrestrictedCa,
    log: (level, message, fields) => ctx.log(level, message, { name: 'db_actions', ...fields }),
    fetch: { env: ctx.env, ...transferLimitsFrom(ctx) },
    ...(onNewImage ? { onNewImage } : {}),
    ...(policy ? { policy } : {}),
  });
}

async function subscribeMain(ctx: CommonContext): Promise<number> {
  const o = ctx.options;
  const actions = ACTIONS.filter((a) =>
    Array.isArray(o[a]) ? (o[a] as string[]).length > 0 : o[a] === true,
  );
  if (actions.length > 1) throw new CliError('ERR_CLI_ACTION', 'More than one action selected.');
  const uuids = list(o, 'uuid');
  const uris = list(o, 'uri');
  if (uuids.length && uris.length) throw new CliError('ERR_CLI_ACTION', 'Conflicting selectors.');
  const updateMode = updateModeOption(ctx);
  const trustAnchor = trustAnchorOption(ctx);
  const decorated =
    updateMode !== undefined ||
    trustAnchor !== undefined ||
    str(o, 'usernameSet') !== undefined ||
    str(o, 'passwordSet') !== undefined ||
    flag(o, 'usernameClear') ||
    flag(o, 'passwordClear');
  const action = actions[0];
  if (!action && !decorated)
    throw new CliError('ERR_CLI_ACTION', 'No action selected (use -l, -s, -U, -D, -i, --image-list, ...).');
  const concurrency = Number(str(o, 'concurrency') ?? 8);
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new CliError('ERR_CLI_USAGE_VALUE', '--concurrency must be a positive integer.');
  transferLimitsFrom(ctx); // checked before the store is opened
  // Read before the store is opened: a policy that cannot be used changes nothing.
  const policy =
    action === 'update' || action === 'imageList' || (!action && updateMode !== undefined)
      ? await policyFrom(ctx)
      : undefined;

  return withStore(ctx, async (store) => {
    const sub = store.subscriber;
    const selection = { identifiers: uuids, uris };
    const selected = async (): Promise<Subscription[]> => {
      const all = await sub.listSubscriptions();
      if (!uuids.length && !uris.length) return all;
      const out: Subscription[] = [];
      for (const id of uuids) {
        const s = all.find((x) => x.identifier === id);
        if (!s) throw new CliError('ERR_CLI_NOT_FOUND', `Subscription '${id}' not found.`);
        out.push(s);
      }
      for (const uri of uris) {
        const s = all.find((x) => x.uri === uri);
        if (!s) throw new CliError('ERR_CLI_NOT_FOUND', `No subscription with URI '${uri}'.`);
        out.push(s);
      }
      return out;
    };

    /** -U: updates the selection; the status is the worst of the subscriptions', the outcome for the history. */
    const updateAll = async (recorder: RunRecorder): Promise<{ status: number; outcome: RunOutcome }> => {
      const certDir = certDirFrom(ctx, str(o, 'certDir'));
      const subs = await engine(ctx, store, certDir, policy);
      try {
        const r = await subs.update(selection, { concurrency, recorder });
        for (const x of r.results)
          if (x.error) ctx.hint(x.error, { subscription: x.subscription, uri: redactUrl(x.uri) });
        if (ctx.format === 'json') {
          ctx.io.stdout(
            jsonText(
              r.results.map((x) => ({
                accepted: x.accepted,
                code: x.error?.code ?? null,
                message: x.error?.message ?? null,
                outcome: x.outcome,
                refused: x.refused,
                status: updateStatus(x),
                subscription: x.subscription,
                version: x.version ?? null,
                markedExpired: x.markedExpired,
                policyRefused: x.policyRefused,
                withdrawn: x.withdrawn
                  ? { at: fmtDate(x.withdrawn.at), code: x.withdrawn.code, reason: x.withdrawn.reason }
                  : null,
                warnings: x.warnings,
              })),
            ),
          );
        }
        const status = worstStatus(r.results.map(updateStatus));
        const rejected = r.results.filter((x) => x.outcome === 'rejected').length;
        const outcome: RunOutcome =
          rejected === 0 ? 'success' : rejected === r.results.length ? 'failure' : 'partial';
        return { status, outcome };
      } finally {
        await subs.close();
      }
    };

    switch (action) {
      case 'list': {
        const all = await sub.listSubscriptions();
        if (ctx.format === 'json') {
          ctx.io.stdout(
            jsonText(
              all.map((s) => ({
                authorised: s.authorised,
                identifier: s.identifier,
                trustAnchor: TRUST_ANCHOR_NAMES[s.trustAnchor],
                updateMode: s.updateMode,
                uri: s.uri,
              })),
            ),
          );
        } else {
          for (const s of all) ctx.io.stdout(`${subscriptionListLine(s)}\n`);
        }
        return 0;
      }
      case 'subscribe': {
        const certDir = certDirFrom(ctx, str(o, 'certDir'));
        const subs = await engine(ctx, store, certDir);
        let rc = 0;
        const json: unknown[] = [];
        try {
          for (const url of list(o, 'subscribe')) {
            try {
              const credentials: { username?: string; password?: string } = {};
              if (str(o, 'usernameSet') !== undefined) credentials.username = str(o, 'usernameSet');
              if (str(o, 'passwordSet') !== undefined) credentials.password = str(o, 'passwordSet');
              const r = await subs.subscribe(url, {
                autoEndorse: flag(o, 'autoEndorse'),
                ...(updateMode !== undefined ? { updateMode } : {}),
                ...(trustAnchor !== undefined ? { trustAnchor } : {}),
                credentials,
              });
              json.push({
                autoEndorsed: r.autoEndorsed,
                endorser: r.endorser,
                identifier: r.subscription.identifier,
                images: r.images,
                status: 0,
                uri: r.subscription.uri,
                warnings: r.warnings,
              });
            } catch (err) {
              const { exitCode: status, message, code } = exitCodeFor(err);
              const shown = redactUrl(url);
              ctx.log('error', `Failed to subscribe to '${shown}': ${message}`, { code });
              ctx.hint(err, { uri: shown });
              json.push({ code, message, status, uri: shown });
              if (statusSeverity(status) > statusSeverity(rc)) rc = status;
            }
          }
        } finally {
          await subs.close();
        }
        if (ctx.format === 'json') ctx.io.stdout(jsonText(json));
        return rc;
      }
      case 'update': {
        // Recorded in the run history whatever happens (a missing trust directory included); the metrics file
        // is written once the run has ended, with the cache directory of the cron set-up when it is exported.
        let status: number;
        try {
          status = await recordedRun(store, 'subscribe', updateAll);
        } catch (err) {
          await writePrometheus(ctx, store, 1, ctx.env.VMCATCHER_CACHE_DIR_CACHE);
          throw err;
        }
        return writePrometheus(ctx, store, status, ctx.env.VMCATCHER_CACHE_DIR_CACHE);
      }
      case 'delete': {
        if (!uuids.length && !uris.length)
          throw new CliError('ERR_CLI_ACTION', 'Select the subscriptions to delete with -u or -r.');
        const targets = await selected();
        for (const s of targets) {
          await sub.deleteSubscription(s.identifier);
          ctx.log('info', `Deleted subscription '${s.identifier}'`);
        }
        return 0;
      }
      case 'info': {
        const targets = await selected();
        const outputs = list(o, 'output');
        let certDir: string | undefined;
        let subs: Subscriptions | undefined;
        try {
          const json: unknown[] = [];
          for (const [index, s] of targets.entries()) {
            if (ctx.format === 'SMIME' || ctx.format === 'message') {
              const stored = await sub.getLatestImageList(s.identifier);
              if (!stored) {
                ctx.log('warn', `Subscription '${s.identifier}' needs an update.`);
                continue;
              }
              if (ctx.format === 'SMIME') {
                emit(ctx, stored.data, outputs, index);
                continue;
              }
              certDir ??= certDirFrom(ctx, str(o, 'certDir'));
              subs ??= await engine(ctx, store, certDir);
              const { content } = await subs.verifiedMessage(s.identifier);
              emit(ctx, content, outputs, index);
              continue;
            }
            const creds = s.hasUsername ? await sub.getCredentials(s.identifier) : {};
            const view = {
              subscription: s,
              ...(creds.username !== undefined ? { username: creds.username } : {}),
              usernameIsToken: creds.password === 'x-oauth-basic',
            };
            if (ctx.format === 'json') {
              if (outputs[index]) emit(ctx, jsonText(subscriptionJson(view)), outputs, index);
              else json.push(subscriptionJson(view));
              continue;
            }
            if (!s.latest) ctx.log('warn', `Subscription '${s.identifier}' needs an update.`);
            emit(ctx, `${subscriptionInfoLines(view).join('\n')}\n`, outputs, index);
          }
          if (ctx.format === 'json' && json.length) ctx.io.stdout(jsonText(json));
        } finally {
          await subs?.close();
        }
        return 0;
      }
      case 'imageList': {
        const targets = await selected();
        const { applyPolicy } = await import('@hepix/image-cache/policy');
        const images = await applyPolicy(
          store,
          (await Promise.all(targets.map((s) => sub.listImages({ subscription: s.identifier })))).flat(),
          policy ? { policy } : {},
        );
        if (ctx.format === 'json')
          ctx.io.stdout(
            jsonText(
              images.map((i) => ({
                ...imageJson(i),
                ...policyJson(i),
                image: i.identifier,
                state: i.state,
                subscription: i.subscription,
              })),
            ),
          );
        else for (const i of images) ctx.io.stdout(`${i.identifier}\t${i.state}\t${i.subscription}\n`);
        return 0;
      }
      case 'imageAccept':
      case 'imageRefuse': {
        const images = list(o, action);
        if (uuids.length !== images.length && uuids.length !== 1) {
          throw new CliError(
            'ERR_CLI_ACTION',
            `--image-${action === 'imageAccept' ? 'accept' : 'refuse'} is paired by position with -u.`,
          );
        }
        for (const [i, image] of images.entries()) {
          const s = uuids.length === 1 ? uuids[0] : uuids[i];
          if (!(await sub.getSubscription(s)))
            throw new CliError('ERR_CLI_NOT_FOUND', `Subscription '${s}' not found.`);
          if (action === 'imageAccept') {
            const existing = await sub.getImages(image);
            if (existing.some((x) => x.subscription === s))
              throw new CliError(
                'ERR_CLI_IMAGE_REGISTERED',
                `Image '${image}' is already registered in '${s}'.`,
              );
            await sub.acceptImage(s, image);
          } else {
            await sub.refuseImage(s, image);
          }
        }
        return 0;
      }
      default: {
        // Decorators on a selection: change the stored settings, then re-import with the new update mode.
        if (!uuids.length && !uris.length)
          throw new CliError('ERR_CLI_ACTION', 'Select the subscriptions to change with -u or -r.');
        const targets = await selected();
        for (const s of targets) {
          if (updateMode !== undefined || trustAnchor !== undefined) {
            await sub.updateSubscription(s.identifier, {
              ...(updateMode !== undefined ? { updateMode } : {}),
              ...(trustAnchor !== undefined ? { trustAnchor } : {}),
            });
          }
          const creds: { username?: string | null; password?: string | null } = {};
          if (flag(o, 'usernameClear')) creds.username = null;
          if (flag(o, 'passwordClear')) creds.password = null;
          if (str(o, 'usernameSet') !== undefined) creds.username = str(o, 'usernameSet');
          if (str(o, 'passwordSet') !== undefined) creds.password = str(o, 'passwordSet');
          if (Object.keys(creds).length) await sub.setCredentials(s.identifier, creds);
        }
        if (updateMode !== undefined) {
          const certDir = certDirFrom(ctx, str(o, 'certDir'));
          const subs = await engine(ctx, store, certDir, policy);
          try {
            const r = await subs.update(selection, { concurrency, force: true });
            return worstStatus(r.results.map(updateStatus));
          } finally {
            await subs.close();
          }
        }
        return 0;
      }
    }
  });
}
