import { parseArgs } from 'node:util';
import { ROUTING_STRATEGIES, type RoutingStrategy } from '../../../shared/routing/index.ts';
import { findKey, issueKey, listKeys, revokeKey, type KvTarget } from './store.ts';

const USAGE = `Usage: npm run keys -- <command> [options]

Commands:
  create --name NAME [--rpm N] [--max-tokens N] [--models a,b|*] [--strategies a,b] [--profiles-only]
  list
  show ID|NAME
  revoke ID|NAME

Where (default: local):
  --local [--persist-to DIR]   wrangler's local KV, the one \`wrangler dev --persist-to DIR\` reads
  --remote                     the deployed namespace bound as API_KEYS in wrangler.toml`;

const list = (s: string | undefined) => s?.split(',').map((x) => x.trim()).filter(Boolean);
const int = (s: string | undefined, flag: string) => {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} must be a positive integer`);
  return n;
};

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      rpm: { type: 'string' },
      'max-tokens': { type: 'string' },
      models: { type: 'string' },
      strategies: { type: 'string' },
      'profiles-only': { type: 'boolean', default: false },
      local: { type: 'boolean', default: false },
      remote: { type: 'boolean', default: false },
      'persist-to': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, arg] = positionals;
  if (values.help || !command) return void console.log(USAGE);
  if (values.local && values.remote) throw new Error('choose --local or --remote, not both');
  const target: KvTarget = { remote: values.remote, persistTo: values['persist-to'] };

  switch (command) {
    case 'create': {
      if (!values.name) throw new Error('create needs --name');
      const strategies = list(values.strategies);
      const bad = strategies?.find((s) => !(ROUTING_STRATEGIES as readonly string[]).includes(s));
      if (bad) throw new Error(`unknown strategy '${bad}' (known: ${ROUTING_STRATEGIES.join(', ')})`);
      const { key, record } = await issueKey({
        ...target,
        name: values.name,
        rpm: int(values.rpm, '--rpm'),
        max_tokens: int(values['max-tokens'], '--max-tokens'),
        models: list(values.models),
        routing: { raw_key_experts: !values['profiles-only'], strategies: (strategies as RoutingStrategy[]) ?? [...ROUTING_STRATEGIES] },
      });
      console.log(JSON.stringify(record, null, 2));
      console.log(`\nAPI key (shown once; only its SHA-256 is stored):\n${key}`);
      return;
    }
    case 'list':
      for (const { record: r } of await listKeys(target)) {
        console.log(`${r.id}\t${r.disabled ? 'revoked' : 'active'}\t${r.name}\trpm=${r.rpm}\tmax_tokens=${r.max_tokens}\tmodels=${r.models.join(',')}\t${r.created}`);
      }
      return;
    case 'show':
      if (!arg) throw new Error('show needs a key id or name');
      return void console.log(JSON.stringify((await findKey(arg, target)).record, null, 2));
    case 'revoke':
      if (!arg) throw new Error('revoke needs a key id or name');
      return void console.log(`revoked ${(await revokeKey(arg, target)).id}`);
    default:
      throw new Error(`unknown command '${command}'\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((err) => {
  console.error(`keys: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
