import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isSupportedCountry } from 'libphonenumber-js/max';
import { ConfigError } from '../../config.js';
import { SMS_TYPES } from '../../domain/message-status.js';
import type { RouteRule, RoutingFile } from './route-plan.js';

const VARIABLE = 'ROUTING_FILE';
const STRATEGIES: readonly RouteRule['strategy'][] = ['priority', 'least_cost'];
const PREFIX = /^\+\d{1,15}$/;

/**
 * Reads and strictly checks the routing file (JSON, or YAML by extension). Strict because a typo
 * such as `"countries"` would otherwise turn a narrow rule into one that matches every message.
 */
export function loadRoutingFile(path: string, knownProviders: readonly string[]): RoutingFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(VARIABLE, `cannot be read (${path}): ${(err as Error).message}`);
  }
  return parseRoutingFile(parse(path, text), knownProviders, path);
}

function parse(path: string, text: string): unknown {
  const yaml = /\.ya?ml$/i.test(path);
  try {
    return yaml ? loadYaml(path).parse(text) : JSON.parse(text);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(VARIABLE, `is not valid ${yaml ? 'YAML' : 'JSON'} (${path}): ${(err as Error).message}`);
  }
}

/**
 * `yaml` is not one of the gateway's own dependencies (it comes with fastify's swagger and vite), so it
 * is looked up only when a YAML file is given, and its absence is a clear configuration error.
 */
function loadYaml(path: string): typeof import('yaml') {
  try {
    return createRequire(import.meta.url)('yaml') as typeof import('yaml');
  } catch {
    throw new ConfigError(VARIABLE, `is YAML (${path}) but the yaml package is not installed; give the routing file as JSON`);
  }
}

/** Checks an already parsed routing file; `source` names it in errors. */
export function parseRoutingFile(data: unknown, knownProviders: readonly string[], source: string): RoutingFile {
  const fail = (where: string, problem: string): never => {
    throw new ConfigError(VARIABLE, `(${source}) ${where} ${problem}`);
  };
  const root = object(data, 'the file', fail);
  onlyKeys(root, ['routes', 'budgets'], '', fail);

  const routes = root.routes === undefined ? [] : array(root.routes, 'routes', fail).map((r, i) => rule(r, `routes[${i}]`, knownProviders, fail));

  const budgets: RoutingFile['budgets'] = {};
  if (root.budgets !== undefined) {
    for (const [name, value] of Object.entries(object(root.budgets, 'budgets', fail))) {
      const where = `budgets.${name}`;
      if (!knownProviders.includes(name)) fail(where, `is not a known provider (known: ${knownProviders.join(', ')})`);
      const budget = object(value, where, fail);
      onlyKeys(budget, ['per_second'], where, fail);
      const perSecond = budget.per_second;
      if (typeof perSecond !== 'number' || !Number.isFinite(perSecond) || perSecond <= 0) {
        fail(`${where}.per_second`, `must be a positive number, got ${JSON.stringify(perSecond)}`);
      }
      budgets[name] = { per_second: perSecond as number };
    }
  }
  return { routes, budgets };
}

type Fail = (where: string, problem: string) => never;

function rule(value: unknown, where: string, knownProviders: readonly string[], fail: Fail): RouteRule {
  const raw = object(value, where, fail);
  onlyKeys(raw, ['match', 'providers', 'strategy'], where, fail);

  const match: RouteRule['match'] = {};
  if (raw.match !== undefined) {
    const m = object(raw.match, `${where}.match`, fail);
    onlyKeys(m, ['country', 'prefix', 'sms_type'], `${where}.match`, fail);
    if (m.country !== undefined) {
      match.country = strings(m.country, `${where}.match.country`, fail).map((c, i) => {
        const code = c.toUpperCase();
        if (!/^[A-Z]{2}$/.test(code) || !isSupportedCountry(code)) {
          fail(`${where}.match.country[${i}]`, `must be an ISO 3166 alpha-2 country code, got ${JSON.stringify(c)}`);
        }
        return code;
      });
    }
    if (m.prefix !== undefined) {
      match.prefix = strings(m.prefix, `${where}.match.prefix`, fail).map((p, i) => {
        if (!PREFIX.test(p)) fail(`${where}.match.prefix[${i}]`, `must be "+" and 1 to 15 digits, got ${JSON.stringify(p)}`);
        return p;
      });
    }
    if (m.sms_type !== undefined) {
      match.sms_type = strings(m.sms_type, `${where}.match.sms_type`, fail).map((t, i) => {
        if (!(SMS_TYPES as readonly string[]).includes(t)) fail(`${where}.match.sms_type[${i}]`, `must be one of ${SMS_TYPES.join(', ')}, got ${JSON.stringify(t)}`);
        return t;
      });
    }
  }

  if (raw.providers === undefined) fail(`${where}.providers`, 'is required');
  const providers = strings(raw.providers, `${where}.providers`, fail);
  providers.forEach((p, i) => {
    if (!knownProviders.includes(p)) fail(`${where}.providers[${i}]`, `is not a known provider, got ${JSON.stringify(p)} (known: ${knownProviders.join(', ')})`);
    if (providers.indexOf(p) !== i) fail(`${where}.providers[${i}]`, `repeats ${p}`);
  });

  const strategy = raw.strategy ?? 'priority';
  if (!STRATEGIES.includes(strategy as RouteRule['strategy'])) {
    fail(`${where}.strategy`, `must be one of ${STRATEGIES.join(', ')}, got ${JSON.stringify(strategy)}`);
  }
  return { match, providers, strategy: strategy as RouteRule['strategy'] };
}

function object(value: unknown, where: string, fail: Fail): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(where, `must be an object, got ${kindOf(value)}`);
  return value as Record<string, unknown>;
}

function array(value: unknown, where: string, fail: Fail): unknown[] {
  if (!Array.isArray(value)) fail(where, `must be a list, got ${kindOf(value)}`);
  return value as unknown[];
}

/** A non-empty list of strings: an empty criterion would match nothing, which is never what was meant. */
function strings(value: unknown, where: string, fail: Fail): string[] {
  const list = array(value, where, fail);
  if (list.length === 0) fail(where, 'must not be empty');
  list.forEach((item, i) => {
    if (typeof item !== 'string') fail(`${where}[${i}]`, `must be a string, got ${kindOf(item)}`);
  });
  return list as string[];
}

function onlyKeys(value: Record<string, unknown>, allowed: readonly string[], where: string, fail: Fail): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) fail(where ? `${where}.${key}` : key, `is not a known field (allowed: ${allowed.join(', ')})`);
  }
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : JSON.stringify(value) ?? typeof value;
}
