import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config.js';
import { loadRoutingFile } from '../../../src/providers/routing/routing-file.js';

const KNOWN = ['twilio', 'aws_sns', 'plivo', 'nexmo', 'clickatell', 'simulator'];
const dir = mkdtempSync(join(tmpdir(), 'routing-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function write(content: unknown, ext = 'json'): string {
  const path = join(dir, `routing-${n++}.${ext}`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

function configError(path: string): ConfigError {
  try {
    loadRoutingFile(path, KNOWN);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).variable).toBe('ROUTING_FILE');
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

const CONTRACT_EXAMPLE = {
  routes: [{ match: { country: ['US', 'CA'], prefix: ['+1415'], sms_type: ['otp'] }, providers: ['twilio', 'plivo'], strategy: 'priority' }],
  budgets: { twilio: { per_second: 100 } },
};

describe('loadRoutingFile', () => {
  it('loads the contract example', () => {
    expect(loadRoutingFile(write(CONTRACT_EXAMPLE), KNOWN)).toEqual(CONTRACT_EXAMPLE);
  });

  it('fills what may be left out: routes, budgets, match and strategy', () => {
    expect(loadRoutingFile(write({}), KNOWN)).toEqual({ routes: [], budgets: {} });
    expect(loadRoutingFile(write({ routes: [{ providers: ['simulator'] }] }), KNOWN)).toEqual({
      routes: [{ match: {}, providers: ['simulator'], strategy: 'priority' }], budgets: {},
    });
  });

  it('upper-cases country codes', () => {
    const file = loadRoutingFile(write({ routes: [{ match: { country: ['gb'] }, providers: ['nexmo'], strategy: 'least_cost' }] }), KNOWN);
    expect(file.routes[0].match.country).toEqual(['GB']);
  });

  it('reads YAML by extension', () => {
    const path = write(
      'routes:\n  - match:\n      country: [US, CA]\n      prefix: ["+1415"]\n      sms_type: [otp]\n    providers: [twilio, plivo]\n    strategy: priority\nbudgets:\n  twilio:\n    per_second: 100\n',
      'yaml',
    );
    expect(loadRoutingFile(path, KNOWN)).toEqual(CONTRACT_EXAMPLE);
    expect(loadRoutingFile(write('routes: []\n', 'yml'), KNOWN)).toEqual({ routes: [], budgets: {} });
  });

  it('names the file when it cannot be read or parsed', () => {
    expect(configError(join(dir, 'missing.json')).message).toMatch(/ROUTING_FILE cannot be read .*missing\.json/);
    expect(configError(write('{"routes": [', 'json')).message).toContain('is not valid JSON');
    expect(configError(write('routes: [\n', 'yaml')).message).toContain('is not valid YAML');
  });

  const bad: [string, unknown, string][] = [
    ['a list at the top', [], 'the file must be an object'],
    ['an unknown top-level field', { route: [] }, 'route is not a known field'],
    ['routes not a list', { routes: {} }, 'routes must be a list'],
    ['an unknown route field', { routes: [{ providers: ['twilio'], priority: 1 }] }, 'routes[0].priority is not a known field'],
    ['a misspelt match field', { routes: [{ match: { countries: ['US'] }, providers: ['twilio'] }] }, 'routes[0].match.countries is not a known field'],
    ['a country that is not alpha-2', { routes: [{ providers: ['twilio'] }, { match: { country: ['US', 'USA'] }, providers: ['twilio'] }] }, 'routes[1].match.country[1] must be an ISO 3166 alpha-2'],
    ['a country code that does not exist', { routes: [{ match: { country: ['UK'] }, providers: ['twilio'] }] }, 'routes[0].match.country[0]'],
    ['a country that is not a string', { routes: [{ match: { country: [1] }, providers: ['twilio'] }] }, 'routes[0].match.country[0] must be a string'],
    ['an empty criterion', { routes: [{ match: { sms_type: [] }, providers: ['twilio'] }] }, 'routes[0].match.sms_type must not be empty'],
    ['a prefix without +', { routes: [{ match: { prefix: ['1415'] }, providers: ['twilio'] }] }, 'routes[0].match.prefix[0]'],
    ['a prefix too long', { routes: [{ match: { prefix: ['+1234567890123456'] }, providers: ['twilio'] }] }, 'routes[0].match.prefix[0]'],
    ['an unknown sms_type', { routes: [{ match: { sms_type: ['otp', 'bulk'] }, providers: ['twilio'] }] }, 'routes[0].match.sms_type[1] must be one of transactional, promotional, otp, alert, marketing'],
    ['no providers', { routes: [{ match: {} }] }, 'routes[0].providers is required'],
    ['an empty provider list', { routes: [{ providers: [] }] }, 'routes[0].providers must not be empty'],
    ['an unknown provider', { routes: [{ providers: ['twilio', 'sinch'] }] }, 'routes[0].providers[1] is not a known provider'],
    ['a repeated provider', { routes: [{ providers: ['twilio', 'twilio'] }] }, 'routes[0].providers[1] repeats twilio'],
    ['an unknown strategy', { routes: [{ providers: ['twilio'], strategy: 'cheapest' }] }, 'routes[0].strategy must be one of priority, least_cost'],
    ['budgets not an object', { budgets: [] }, 'budgets must be an object'],
    ['a budget for an unknown provider', { budgets: { sinch: { per_second: 1 } } }, 'budgets.sinch is not a known provider'],
    ['a zero budget', { budgets: { twilio: { per_second: 0 } } }, 'budgets.twilio.per_second must be a positive number'],
    ['a budget given as a string', { budgets: { twilio: { per_second: '10' } } }, 'budgets.twilio.per_second must be a positive number'],
    ['a budget without per_second', { budgets: { twilio: {} } }, 'budgets.twilio.per_second must be a positive number'],
    ['an unknown budget field', { budgets: { twilio: { per_second: 5, burst: 10 } } }, 'budgets.twilio.burst is not a known field'],
  ];
  it.each(bad)('refuses %s, naming the entry', (_, content, expected) => {
    expect(configError(write(content)).message).toContain(expected);
  });

  it('checks providers against the list it is given', () => {
    const path = write({ routes: [{ providers: ['smpp'] }] });
    expect(configError(path).message).toContain('routes[0].providers[0] is not a known provider');
    expect(loadRoutingFile(path, [...KNOWN, 'smpp']).routes[0].providers).toEqual(['smpp']);
  });
});
