// vmcatcher_endorser: who may sign which subscription (reference §3.1).
import type { Principal } from '@hepix/imagelist-store';
import {
  CliError,
  type CliIo,
  COMMON_EXIT_STATUSES,
  type CommonContext,
  processIo,
  runTool,
  type ToolDefinition,
  withStore,
} from '../common/context.js';
import { jsonText, pyBool, subscriptionInfoLines } from '../common/format.js';
import { list, type OptionSpec, UsageError } from '../common/options.js';

const ENDORSER_OPTIONS: OptionSpec[] = [
  { dest: 'list', short: 'l', long: ['list'], kind: 'flag', help: 'List endorser credentials.' },
  { dest: 'links', short: 'K', long: ['links'], kind: 'flag', help: 'List endorser to subscription links.' },
  {
    dest: 'create',
    short: 'C',
    long: ['create'],
    kind: 'flag',
    help: 'Create an endorser (-e, -S/--dn, -I).',
  },
  { dest: 'delete', short: 'D', long: ['delete'], kind: 'flag', help: 'Delete endorser(s) -e.' },
  {
    dest: 'link',
    short: 'k',
    long: ['link'],
    kind: 'flag',
    help: 'Link endorsers -e to subscriptions -s (paired by position).',
  },
  {
    dest: 'unlink',
    short: 'u',
    long: ['unlink'],
    kind: 'flag',
    help: 'Remove links of endorsers -e to subscriptions -s.',
  },
  {
    dest: 'info',
    short: 'i',
    long: ['info'],
    kind: 'flag',
    help: 'Show endorser details and linked subscriptions.',
  },
  {
    dest: 'endorser',
    short: 'e',
    long: ['endorser_uuid', 'endorser-uuid'],
    kind: 'append',
    metavar: 'UUID',
    help: 'Endorser identifier (any string up to 50 characters).',
  },
  {
    dest: 'subscription',
    short: 's',
    long: ['subscription_uuid', 'subscription-uuid'],
    kind: 'append',
    metavar: 'UUID',
    help: 'Subscription identifier.',
  },
  {
    dest: 'subject',
    short: 'S',
    long: ['subject'],
    kind: 'append',
    metavar: 'SUBJECT',
    help: 'Certificate subject (one-line DN).',
  },
  {
    dest: 'dn',
    long: ['dn'],
    kind: 'append',
    metavar: 'SUBJECT',
    help: 'Certificate subject; overrides -S (older spelling).',
  },
  {
    dest: 'issuer',
    short: 'I',
    long: ['issuer'],
    kind: 'append',
    metavar: 'ISSUER',
    help: 'Issuer of the certificate (one-line DN); a single issuer applies to every subject.',
  },
];

const ACTIONS = ['list', 'links', 'create', 'delete', 'link', 'unlink', 'info'] as const;

export const ENDORSER_TOOL: ToolDefinition = {
  name: 'vmcatcher_endorser',
  usage: 'vmcatcher_endorser [options]',
  description: 'Manage the endorsers allowed to sign image list subscriptions.',
  options: ENDORSER_OPTIONS,
  examples: [
    {
      command:
        "vmcatcher_endorser -C -e alice -S '/C=DE/O=GermanGrid/CN=Alice' -I '/C=DE/O=GermanGrid/CN=GridKa-CA'",
      text: 'create an endorser from the subject and issuer of its certificate',
    },
    { command: 'vmcatcher_endorser -k -e alice -s LIST', text: 'allow alice to sign the subscription LIST' },
    { command: 'vmcatcher_endorser -l', text: 'list the endorsers' },
  ],
  exitStatus: [...COMMON_EXIT_STATUSES, [12, '--create without an identifier, subject or issuer']],
};

export function runEndorserCommand(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  io: CliIo = processIo,
): Promise<number> {
  return runTool(ENDORSER_TOOL, argv, env, io, endorserMain);
}

function pairs<A, B>(as: A[], bs: B[]): [A, B][] {
  if (as.length === 1) return bs.map((b) => [as[0], b]);
  if (bs.length === 1) return as.map((a) => [a, bs[0]]);
  if (as.length !== bs.length)
    throw new UsageError('Endorsers and subscriptions must be paired by position.');
  return as.map((a, i) => [a, bs[i]]);
}

async function endorserMain(ctx: CommonContext): Promise<number> {
  const o = ctx.options;
  const actions = ACTIONS.filter((a) => o[a]);
  if (actions.length > 1) throw new CliError('ERR_CLI_ACTION', 'More than one action selected.');
  if (actions.length === 0)
    throw new CliError('ERR_CLI_ACTION', 'No action selected (use -l, -K, -C, -D, -k, -u or -i).');
  const action = actions[0];
  const endorsers = list(o, 'endorser');
  const subscriptions = list(o, 'subscription');
  const out = (s: string) => ctx.io.stdout(s);

  return withStore(ctx, async (store) => {
    const sub = store.subscriber;
    switch (action) {
      case 'list': {
        const all = await sub.listEndorsers();
        if (ctx.format === 'json') {
          out(
            jsonText(
              all.map((e) => ({
                endorser: e.identifier,
                princibles: e.principals.map((p) => ({ issuer: p.issuer, subject: p.subject })),
              })),
            ),
          );
        } else {
          for (const e of all)
            for (const p of e.principals) out(`'${e.identifier}'\t'${p.subject}'\t'${p.issuer}'\n`);
        }
        return 0;
      }
      case 'links': {
        const links = await sub.listLinks();
        if (ctx.format === 'json') out(jsonText(links));
        else for (const l of links) out(`'${l.endorser}'\t'${l.subscription}'\t'${pyBool(l.authorised)}'\n`);
        return 0;
      }
      case 'create': {
        if (endorsers.length !== 1)
          throw new CliError('ERR_CLI_ENDORSER_CREATE', 'Create needs exactly one --endorser_uuid.');
        const dns = list(o, 'dn');
        if (list(o, 'subject').length && !dns.length) ctx.log('debug', '--subject given');
        const subjects = dns.length ? dns : list(o, 'subject');
        const issuers = list(o, 'issuer');
        if (!subjects.length)
          throw new CliError('ERR_CLI_ENDORSER_CREATE', 'Create needs at least one --subject.');
        if (!issuers.length) throw new CliError('ERR_CLI_ENDORSER_CREATE', 'Create needs an --issuer.');
        if (issuers.length !== 1 && issuers.length !== subjects.length) {
          throw new CliError('ERR_CLI_ENDORSER_CREATE', 'Give one --issuer, or one per --subject.');
        }
        const principals: Principal[] = subjects.map((subject, i) => ({
          subject,
          issuer: issuers.length === 1 ? issuers[0] : issuers[i],
        }));
        try {
          await sub.createEndorser(endorsers[0], principals);
        } catch (err) {
          throw new CliError(
            'ERR_CLI_ENDORSER_CREATE',
            `Failed to create endorser '${endorsers[0]}': ${(err as Error).message}`,
          );
        }
        ctx.log('info', `Created endorser '${endorsers[0]}'`);
        return 0;
      }
      case 'delete': {
        if (!endorsers.length) throw new CliError('ERR_CLI_ACTION', 'Delete needs --endorser_uuid.');
        let rc = 0;
        for (const e of endorsers) {
          if (!(await sub.getEndorser(e))) {
            ctx.log('error', `Endorser '${e}' not found.`);
            rc = 1;
            continue;
          }
          await sub.deleteEndorser(e);
        }
        return rc;
      }
      case 'link':
      case 'unlink': {
        if (!endorsers.length || !subscriptions.length) {
          throw new CliError(
            'ERR_CLI_ACTION',
            `${action === 'link' ? 'Link' : 'Unlink'} needs --endorser_uuid and --subscription_uuid.`,
          );
        }
        for (const [e, s] of pairs(endorsers, subscriptions)) {
          if (!(await sub.getEndorser(e)))
            throw new CliError('ERR_CLI_NOT_FOUND', `Endorser '${e}' not found.`);
          if (!(await sub.getSubscription(s)))
            throw new CliError('ERR_CLI_NOT_FOUND', `Subscription '${s}' not found.`);
          if (action === 'link') await sub.link(e, s);
          else await sub.unlink(e, s);
        }
        return 0;
      }
      case 'info': {
        const selected = endorsers.length ? endorsers : (await sub.listEndorsers()).map((e) => e.identifier);
        const links = await sub.listLinks();
        const json: unknown[] = [];
        let rc = 0;
        for (const id of selected) {
          const e = await sub.getEndorser(id);
          if (!e) {
            ctx.log('error', `Endorser '${id}' not found.`);
            rc = 1;
            continue;
          }
          const linked = links.filter((l) => l.endorser === id);
          if (ctx.format === 'json') {
            json.push({
              endorser: e.identifier,
              princibles: e.principals.map((p) => ({ issuer: p.issuer, subject: p.subject })),
              subscriptions: linked.map((l) => ({ authorised: l.authorised, identifier: l.subscription })),
            });
            continue;
          }
          const lines = [`endorser.dc:identifier=${e.identifier}`];
          for (const p of e.principals)
            lines.push(`endorser.hv:dn=${p.subject}`, `endorser.hv:ca=${p.issuer}`);
          for (const l of linked) {
            const s = await sub.getSubscription(l.subscription);
            if (s) lines.push(...subscriptionInfoLines({ subscription: s }));
          }
          out(`${lines.join('\n')}\n`);
        }
        if (ctx.format === 'json') out(jsonText(json));
        return rc;
      }
    }
  });
}
