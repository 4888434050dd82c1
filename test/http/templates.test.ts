import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { drain, startGateway, type TestGateway, US, US2 } from '../helpers/gateway.js';
import { get, post } from '../helpers/http.js';

let gw: TestGateway;
beforeEach(async () => {
  gw = await startGateway();
});
afterEach(async () => gw.stop());

async function put(url: string, body: unknown) {
  const res = await gw.app.inject({ method: 'PUT', url, payload: body as object });
  return { status: res.statusCode, body: res.json() };
}

const welcome = {
  name: 'Welcome Template',
  content: 'Welcome {{name}}! Your account has been created. Use code {{code}} to verify.',
  variables: ['name', 'code'],
  category: 'onboarding',
  sms_type: 'transactional',
  is_active: true,
};

describe('templates', () => {
  it('creates the seed\'s template and reads it back', async () => {
    const res = await post(gw.app, '/api/templates', welcome);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ ...welcome, version: 1, usage_count: 0, last_used_at: null });
    expect(res.body.id).toMatch(/^tpl_/);
    expect((await get(gw.app, `/api/templates/${res.body.id}`)).body).toEqual(res.body);
  });

  it('takes a client-chosen id once', async () => {
    expect((await post(gw.app, '/api/templates', { ...welcome, id: 'promo_template' })).status).toBe(201);
    expect((await post(gw.app, '/api/templates', { ...welcome, id: 'promo_template' })).status).toBe(409);
    expect((await post(gw.app, '/api/templates', { ...welcome, id: 'Bad Id!' })).status).toBe(422);
  });

  it('checks declared variables against the content, naming the difference', async () => {
    const res = await post(gw.app, '/api/templates', { ...welcome, variables: ['name', 'coupon'] });
    expect(res.status).toBe(422);
    expect(res.body.detail).toContain('{{code}}');
    expect(res.body.detail).toContain('coupon');
    const derived = await post(gw.app, '/api/templates', { name: 'x', content: 'Hi {{ first }} and {{last}}' });
    expect(derived.body.variables).toEqual(['first', 'last']);
  });

  it('lists with filters, search and pagination', async () => {
    await post(gw.app, '/api/templates', welcome);
    await post(gw.app, '/api/templates', { name: 'Promo', content: 'Sale {{discount}}', category: 'marketing', sms_type: 'promotional' });
    await post(gw.app, '/api/templates', { name: 'Old', content: 'old', category: 'onboarding', is_active: false });
    const seedQuery = (await get(gw.app, '/api/templates?category=onboarding&sms_type=transactional&is_active=true&limit=50&offset=0')).body;
    expect(seedQuery.items.map((t: any) => t.name)).toEqual(['Welcome Template']);
    expect(seedQuery).toMatchObject({ total: 1, limit: 50, offset: 0 });
    expect((await get(gw.app, '/api/templates?search=sale')).body.total).toBe(1);
    expect((await get(gw.app, '/api/templates?limit=2')).body).toMatchObject({ total: 3, items: [expect.anything(), expect.anything()] });
  });

  it('versions every change and keeps old versions readable', async () => {
    const { body: t } = await post(gw.app, '/api/templates', welcome);
    const changed = await put(`/api/templates/${t.id}`, { content: 'Hello {{name}}, code {{code}}.' });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ version: 2, content: 'Hello {{name}}, code {{code}}.', variables: ['name', 'code'] });
    await put(`/api/templates/${t.id}`, { is_active: false });
    const versions = (await get(gw.app, `/api/templates/${t.id}/versions`)).body.items;
    expect(versions.map((v: any) => [v.version, v.change])).toEqual([[1, 'created'], [2, 'updated'], [3, 'updated']]);
    expect(versions[0].content).toBe(welcome.content);
    const bad = await put(`/api/templates/${t.id}`, { content: 'Now {{other}}', variables: ['name'] });
    expect(bad.status).toBe(422);
    const del = await gw.app.inject({ method: 'DELETE', url: `/api/templates/${t.id}` });
    expect(del.statusCode).toBe(204);
    expect((await get(gw.app, `/api/templates/${t.id}`)).status).toBe(404);
  });

  it('renders a preview with segments and encoding, 422 naming a missing variable', async () => {
    const { body: t } = await post(gw.app, '/api/templates', welcome);
    const ok = await post(gw.app, `/api/templates/${t.id}/render`, { variables: { name: 'Zoë', code: '42' } });
    expect(ok.body).toMatchObject({ message: 'Welcome Zoë! Your account has been created. Use code 42 to verify.', segments: 1, encoding: 'UCS-2' });
    const missing = await post(gw.app, `/api/templates/${t.id}/render`, { variables: { name: 'A' } });
    expect(missing.status).toBe(422);
    expect(missing.body.errors).toEqual([expect.objectContaining({ field: 'variables.code' })]);
  });

  it('a value never expands into further placeholders', async () => {
    const { body: t } = await post(gw.app, '/api/templates', welcome);
    const res = await post(gw.app, `/api/templates/${t.id}/render`, { variables: { name: '{{code}}', code: 'X' } });
    expect(res.body.message).toBe('Welcome {{code}}! Your account has been created. Use code X to verify.');
  });

  it('is used by send and send-batch, counting uses with the send and recording the version', async () => {
    await post(gw.app, '/api/templates', { id: 'promo_template', name: 'Promo', content: 'Hi {{name}}, {{discount}} off today!', sms_type: 'promotional' });
    // The seed's bulk example, as written.
    const batch = await post(gw.app, '/api/sms/send-batch', {
      name: 'Marketing Campaign',
      recipients: [{ number: US, name: 'User 1' }, { number: US2, name: 'User 2', variables: { discount: '60%' } }],
      message: 'Special offer! Get 50% off today.', template_id: 'promo_template', template_variables: { discount: '50%' },
      sms_type: 'promotional', schedule_at: '2024-01-15T09:00:00Z', send_immediately: false, callback_url: 'https://yourapp.com/webhook/sms',
    });
    expect(batch.status).toBe(200);
    expect(batch.body.accepted).toBe(2);
    const items = (await get(gw.app, `/api/sms?batch_id=${batch.body.batch_id}`)).body.items;
    expect(items.map((m: any) => m.message).sort()).toEqual(['Hi User 1, 50% off today!', 'Hi User 2, 60% off today!']);
    expect(items[0]).toMatchObject({ template_id: 'promo_template', template_version: 1, sms_type: 'promotional' });
    const single = await post(gw.app, '/api/sms/send', { to: [{ number: US, name: 'Ann' }], template_id: 'promo_template', template_variables: { discount: '5%' } });
    expect(single.status).toBe(200);
    const t = (await get(gw.app, '/api/templates/promo_template')).body;
    expect(t.usage_count).toBe(3);
    expect(t.last_used_at).not.toBeNull();
    const missing = await post(gw.app, '/api/sms/send', { to: [{ number: US }], template_id: 'promo_template' });
    expect(missing.status).toBe(422);
    expect(missing.body.detail).toContain('discount');
    expect(missing.body.errors.map((e: any) => e.field)).toEqual(['to[0].name', 'template_variables.discount']);
    expect((await get(gw.app, '/api/templates/promo_template')).body.usage_count).toBe(3);
  });

  it('refuses inactive and unknown templates with 422', async () => {
    await post(gw.app, '/api/templates', { id: 'off', name: 'Off', content: 'x', is_active: false });
    const inactive = await post(gw.app, '/api/sms/send', { to: [{ number: US }], template_id: 'off' });
    expect(inactive.status).toBe(422);
    expect(inactive.body.errors[0].field).toBe('template_id');
    expect((await post(gw.app, '/api/sms/send', { to: [{ number: US }], template_id: 'nope' })).status).toBe(422);
    await drain(gw.services);
  });
});
