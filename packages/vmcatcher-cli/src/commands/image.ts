// vmcatcher_image: list images with their state bitmap, subscribe/unsubscribe them for caching (§3.3).
import { escapeControl } from '@hepix/common';
import type { PolicyImageState } from '@hepix/image-cache/policy';
import type { SubscribedImage } from '@hepix/imagelist-store';
import type { SitePolicy } from '@hepix/site-policy';
import {
  CliError,
  type CliIo,
  COMMON_EXIT_STATUSES,
  type CommonContext,
  certDirFrom,
  emit,
  processIo,
  runTool,
  type ToolDefinition,
  withStore,
} from '../common/context.js';
import {
  imageInfoLines,
  imageJson,
  imageListLine,
  jsonText,
  pipeSafe,
  policyInfoLines,
  policyJson,
  subscriptionInfoLines,
  subscriptionJson,
} from '../common/format.js';
import { list, type OptionSpec, str } from '../common/options.js';
import { POLICY_OPTION, policyFrom } from '../common/policy.js';
import { policyCheck } from './policy-check.js';

const IMAGE_OPTIONS: OptionSpec[] = [
  {
    dest: 'list',
    short: 'l',
    long: ['list'],
    kind: 'flag',
    help: 'List images: <image uuid> <state> <subscription uuid>.',
  },
  {
    dest: 'add',
    short: 'a',
    long: ['add'],
    kind: 'flag',
    help: 'Subscribe the selected images for caching.',
  },
  { dest: 'remove', short: 'r', long: ['remove'], kind: 'flag', help: 'Unsubscribe the selected images.' },
  {
    dest: 'legacyDelete',
    short: 'D',
    long: ['delete'],
    kind: 'flag',
    help: 'Older spelling of --remove (removed in vmcatcher 0.1.13).',
  },
  { dest: 'info', short: 'i', long: ['info'], kind: 'flag', help: 'Show the selected images.' },
  {
    dest: 'uuid',
    short: 'u',
    long: ['uuid'],
    kind: 'append',
    metavar: 'UUID',
    help: 'Select images by dc:identifier.',
  },
  {
    dest: 'sha512',
    short: 's',
    long: ['sha512'],
    kind: 'append',
    metavar: 'HASH',
    help: 'Select images by sha512 of any stored instance.',
  },
  {
    dest: 'subscription',
    long: ['subscription'],
    kind: 'value',
    metavar: 'UUID',
    help: 'Only images of this subscription (needed by -a when an identifier is in several subscriptions).',
  },
  {
    dest: 'output',
    short: 'o',
    long: ['output'],
    kind: 'append',
    metavar: 'FILE',
    help: 'Output file per selection, paired by position.',
  },
  {
    dest: 'certDir',
    short: 'c',
    long: ['cert-dir'],
    kind: 'value',
    metavar: 'DIR',
    help: 'Trust anchor directory for -i -f message (env VMCATCHER_DIR_CERT).',
  },
  {
    dest: 'logfile',
    short: 'L',
    long: ['logfile'],
    kind: 'value',
    metavar: 'FILE',
    help: 'Logging configuration file (same as --log-config).',
  },
  {
    dest: 'policyCheck',
    long: ['policy-check'],
    kind: 'flag',
    help: 'With -u UUID: the URL to fetch and the rules passed, or "Image isn\'t valid according to site policy" and the refusing rule (exit 42).',
  },
  POLICY_OPTION,
];

const ACTIONS = ['list', 'add', 'remove', 'legacyDelete', 'info', 'policyCheck'] as const;

export const IMAGE_TOOL: ToolDefinition = {
  name: 'vmcatcher_image',
  usage: 'vmcatcher_image [options]',
  description: 'List the images of the subscribed lists and select them for caching.',
  options: IMAGE_OPTIONS.filter((o) => o.dest !== 'logfile'),
  examples: [
    { command: 'vmcatcher_image -l', text: 'list the images: identifier, state, subscription' },
    {
      command: 'vmcatcher_image -a -u IMAGE',
      text: 'select IMAGE for caching (vmcatcher_cache downloads it)',
    },
    { command: 'vmcatcher_image -i -u IMAGE --json', text: 'show the image as JSON' },
  ],
  exitStatus: [
    ...COMMON_EXIT_STATUSES,
    [41, 'the identifier is in several subscriptions: choose one with --subscription'],
  ],
};

export function runImageCommand(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  io: CliIo = processIo,
): Promise<number> {
  // -L is the older spelling of --log-config in the manual's examples.
  const l = argv.findIndex((a) => a === '-L' || a === '--logfile' || a.startsWith('--logfile='));
  let args = argv;
  if (l !== -1) {
    const a = argv[l];
    args = [...argv];
    if (a.startsWith('--logfile=')) args[l] = `--log-config=${a.slice('--logfile='.length)}`;
    else args[l] = '--log-config';
  }
  return runTool(IMAGE_TOOL, args, env, pipeSafe(io), imageMain);
}

async function imageMain(ctx: CommonContext): Promise<number> {
  const o = ctx.options;
  const actions = ACTIONS.filter((a) => o[a]);
  if (actions.length > 1) throw new CliError('ERR_CLI_ACTION', 'More than one action selected.');
  if (!actions.length)
    throw new CliError('ERR_CLI_ACTION', 'No action selected (use -l, -a, -r, -i or --policy-check).');
  let action = actions[0];
  if (action === 'legacyDelete') {
    ctx.log('warn', '-D/--delete is deprecated: unsubscribing the image (-r).');
    action = 'remove';
  }
  const uuids = list(o, 'uuid');
  const hashes = list(o, 'sha512');
  const only = str(o, 'subscription');
  if (uuids.length && hashes.length) throw new CliError('ERR_CLI_ACTION', 'Conflicting selectors.');
  if (action === 'policyCheck' && uuids.length !== 1)
    throw new CliError('ERR_CLI_ACTION', '--policy-check takes one image: -u UUID.');
  // Read before the store is opened: a policy that cannot be used changes nothing.
  const policy: SitePolicy | undefined =
    action === 'list' || action === 'info' || action === 'policyCheck' ? await policyFrom(ctx) : undefined;

  return withStore(ctx, async (store) => {
    const sub = store.subscriber;
    // One group of definitions per selector: an identifier is scoped by its subscription, and may be in several.
    const groups = async (): Promise<SubscribedImage[][]> => {
      let found: SubscribedImage[][];
      if (uuids.length) found = await Promise.all(uuids.map((u) => sub.getImages(u)));
      else if (hashes.length)
        found = await Promise.all(hashes.map((h) => sub.findImagesBySha512(h.toLowerCase())));
      else found = (await sub.listImages(only === undefined ? {} : { subscription: only })).map((i) => [i]);
      return only === undefined ? found : found.map((g) => g.filter((i) => i.subscription === only));
    };
    // The state under the site policy (@hepix/image-cache/policy: the policy and the store, no S/MIME stack).
    const underPolicy = async (images: SubscribedImage[]): Promise<PolicyImageState[]> => {
      const { applyPolicy } = await import('@hepix/image-cache/policy');
      return applyPolicy(store, images, policy ? { policy } : {});
    };
    switch (action) {
      case 'policyCheck':
        return policyCheck(ctx, store, uuids[0], only, policy as SitePolicy);
      case 'list': {
        const images = await underPolicy((await groups()).flat());
        if (ctx.format === 'json') {
          ctx.io.stdout(
            jsonText(
              images.map((i) => ({
                image: i.identifier,
                state: i.state,
                subscription: i.subscription,
                deprecated: i.deprecated ?? null,
              })),
            ),
          );
        } else {
          for (const i of images) ctx.io.stdout(`${imageListLine(i)}\n`);
        }
        return 0;
      }
      case 'add':
      case 'remove': {
        if (!uuids.length && !hashes.length)
          throw new CliError('ERR_CLI_ACTION', 'Select images with -u or -s.');
        const selectors = uuids.length ? uuids : hashes;
        const found = await groups();
        if (action === 'add' && uuids.length) {
          // The same identifier from two endorsers is two images: subscribing to "it" must say which.
          for (const [k, group] of found.entries()) {
            const subscriptions = [...new Set(group.map((g) => g.subscription))];
            if (subscriptions.length > 1) {
              throw new CliError(
                'ERR_CLI_IMAGE_AMBIGUOUS',
                `Image '${escapeControl(selectors[k])}' is in several subscriptions (${subscriptions
                  .map(escapeControl)
                  .join(', ')}); choose one with --subscription UUID. Nothing was changed.`,
              );
            }
          }
        }
        let rc = 0;
        for (const [k, group] of found.entries()) {
          if (!group.length) {
            ctx.log('error', `Image '${escapeControl(selectors[k])}' not found.`);
            rc = 1;
            continue;
          }
          for (const g of group) await sub.setImageCache(g.identifier, action === 'add', g.subscription);
        }
        return rc;
      }
      case 'info': {
        const outputs = list(o, 'output');
        const found = await Promise.all((await groups()).map((g) => underPolicy(g)));
        const json: unknown[] = [];
        let rc = 0;
        for (const [k, group] of found.entries()) {
          if (!group.length) {
            ctx.log('error', `Image '${escapeControl((uuids.length ? uuids : hashes)[k])}' not found.`);
            rc = 1;
            continue;
          }
          let text = '';
          if (ctx.format === 'SMIME' || ctx.format === 'message') {
            // The signed list the image comes from: raw, or re-verified (the anchor directory is -c, else
            // VMCATCHER_DIR_CERT, else the default; the original's -c default hid the environment variable).
            for (const subscription of new Set(group.map((g) => g.subscription))) {
              const stored = await sub.getLatestImageList(subscription);
              if (!stored) {
                ctx.log('warn', `Subscription '${subscription}' needs an update.`);
                continue;
              }
              if (ctx.format === 'SMIME') {
                emit(ctx, stored.data, outputs, k);
                continue;
              }
              const { createSubscriptions } = await import('@hepix/image-cache');
              const subs = createSubscriptions({ store, certDir: certDirFrom(ctx, str(o, 'certDir')) });
              try {
                emit(ctx, (await subs.verifiedMessage(subscription)).content, outputs, k);
              } finally {
                await subs.close();
              }
            }
            continue;
          }
          for (const image of group) {
            const s = await sub.getSubscription(image.subscription);
            const view = { subscription: s as NonNullable<typeof s> };
            if (ctx.format === 'json') {
              const entry = {
                ...(s ? subscriptionJson(view) : {}),
                ...imageJson(image),
                ...policyJson(image),
              };
              if (outputs[k]) text += jsonText(entry);
              else json.push(entry);
              continue;
            }
            const lines = [
              ...(s ? subscriptionInfoLines(view) : []),
              ...imageInfoLines(image, s?.latest?.signer),
              ...policyInfoLines(image),
            ];
            text += `${lines.join('\n')}\n`;
          }
          if (text) emit(ctx, text, outputs, k);
        }
        if (ctx.format === 'json' && json.length) ctx.io.stdout(jsonText(json));
        return rc;
      }
    }
    return 1;
  });
}
