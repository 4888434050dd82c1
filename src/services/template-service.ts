import type { Caller } from '../domain/api-keys.js';
import { sql, type Kysely, type Selectable } from 'kysely';
import { segmentMessage } from '../domain/encoding.js';
import { ConflictError, NotFoundError, ValidationError } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import type { SmsType } from '../domain/message-status.js';
import { placeholdersOf, renderTemplate, variableMismatch } from '../domain/template.js';
import type { GroupCommit } from '../store/group-commit.js';
import type { Database, TemplatesTable, TemplateVersionsTable } from '../store/schema.js';
import type { TemplateForSend, TemplateSource } from './send-service.js';

export interface TemplateInput {
  id?: string;
  name: string;
  content: string;
  variables?: string[];
  category?: string | null;
  sms_type?: SmsType;
  is_active?: boolean;
}

export type TemplateChange = Partial<Omit<TemplateInput, 'id'>>;

export interface TemplateQuery {
  category?: string;
  sms_type?: string;
  is_active?: boolean;
  search?: string;
  limit?: number;
  offset?: number;
}

type Row = Selectable<TemplatesTable>;

function view(t: Row) {
  return {
    id: t.id,
    name: t.name,
    content: t.content,
    variables: JSON.parse(t.variables) as string[],
    category: t.category,
    sms_type: t.sms_type,
    is_active: t.is_active === 1,
    version: t.version,
    usage_count: t.usage_count,
    last_used_at: t.last_used_at === null ? null : new Date(t.last_used_at).toISOString(),
    created_at: new Date(t.created_at).toISOString(),
    updated_at: new Date(t.updated_at).toISOString(),
  };
}

function versionView(v: Selectable<TemplateVersionsTable>) {
  return {
    version: v.version, name: v.name, content: v.content, variables: JSON.parse(v.variables) as string[], category: v.category,
    sms_type: v.sms_type, is_active: v.is_active === 1, change: v.change, created_at: new Date(v.created_at).toISOString(),
  };
}

/** Declared variables must be exactly the placeholders; without a declaration they are derived. */
function checkedVariables(content: string, declared: string[] | undefined): string[] {
  if (declared === undefined || declared.length === 0) return placeholdersOf(content);
  const { undeclared, unused } = variableMismatch(content, declared);
  if (undeclared.length > 0 || unused.length > 0) {
    const errors = [];
    if (undeclared.length > 0) errors.push({ field: 'variables', message: `content uses ${undeclared.map((v) => `{{${v}}}`).join(', ')} not listed in variables` });
    if (unused.length > 0) errors.push({ field: 'variables', message: `${unused.join(', ')} listed but not used in content` });
    throw new ValidationError(errors.map((e) => e.message).join('; '), errors);
  }
  return [...new Set(declared)];
}

/** Templates with versions: every change is a new version, old ones stay readable. */
export class TemplateService implements TemplateSource {
  constructor(private readonly db: Kysely<Database>, private readonly commits: GroupCommit) {}

  async create(input: TemplateInput, caller: Caller) {
    const now = Date.now();
    const variables = checkedVariables(input.content, input.variables);
    const row: TemplatesTable = {
      id: input.id ?? newId('tpl', now),
      name: input.name,
      content: input.content,
      variables: JSON.stringify(variables),
      category: input.category ?? null,
      sms_type: input.sms_type ?? 'transactional',
      is_active: input.is_active === false ? 0 : 1,
      version: 1,
      usage_count: 0,
      last_used_at: null,
      deleted_at: null,
      created_at: now,
      updated_at: now,
      key_id: caller.keyId,
    };
    await this.commits.mayFail(async (trx) => {
      const taken = await trx.selectFrom('templates').select('id').where('id', '=', row.id).executeTakeFirst();
      if (taken) throw new ConflictError(`template id ${row.id} is already taken`);
      await trx.insertInto('templates').values(row).execute();
      await this.recordVersion(trx, row, 'created');
    });
    return view(row);
  }

  async get(id: string) {
    return view(await this.find(this.db, id));
  }

  async list(q: TemplateQuery) {
    const limit = q.limit ?? 50;
    const offset = q.offset ?? 0;
    let base = this.db.selectFrom('templates').where('deleted_at', 'is', null);
    if (q.category) base = base.where('category', '=', q.category);
    if (q.sms_type) base = base.where('sms_type', '=', q.sms_type);
    if (q.is_active !== undefined) base = base.where('is_active', '=', q.is_active ? 1 : 0);
    if (q.search) {
      // lower() on both sides: SQLite's LIKE ignores ASCII case, PostgreSQL's does not.
      const pattern = `%${q.search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      base = base.where(sql<boolean>`(lower(name) like ${pattern} escape '\\' or lower(content) like ${pattern} escape '\\')`);
    }
    const [items, total] = await Promise.all([
      base.selectAll().orderBy('created_at', 'desc').orderBy('id').limit(limit).offset(offset).execute(),
      base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { items: items.map(view), total: Number(total.n), limit, offset };
  }

  async update(id: string, change: TemplateChange) {
    const now = Date.now();
    const updated = await this.commits.mayFail(async (trx) => {
      const current = await this.find(trx, id);
      const content = change.content ?? current.content;
      const variables = change.content !== undefined || change.variables !== undefined
        ? checkedVariables(content, change.variables ?? (change.content !== undefined ? undefined : JSON.parse(current.variables)))
        : JSON.parse(current.variables);
      const next: Row = {
        ...current,
        name: change.name ?? current.name,
        content,
        variables: JSON.stringify(variables),
        category: change.category !== undefined ? change.category : current.category,
        sms_type: change.sms_type ?? current.sms_type,
        is_active: change.is_active === undefined ? current.is_active : change.is_active ? 1 : 0,
        version: current.version + 1,
        updated_at: now,
      };
      await trx.updateTable('templates').set({
        name: next.name, content: next.content, variables: next.variables, category: next.category, sms_type: next.sms_type,
        is_active: next.is_active, version: next.version, updated_at: now,
      }).where('id', '=', id).execute();
      await this.recordVersion(trx, next, 'updated');
      return next;
    });
    return view(updated);
  }

  async remove(id: string): Promise<void> {
    const now = Date.now();
    await this.commits.mayFail(async (trx) => {
      const current = await this.find(trx, id);
      const next = { ...current, version: current.version + 1, is_active: 0, updated_at: now };
      await trx.updateTable('templates').set({ deleted_at: now, is_active: 0, version: next.version, updated_at: now }).where('id', '=', id).execute();
      await this.recordVersion(trx, next, 'deleted');
    });
  }

  async versions(id: string) {
    await this.find(this.db, id);
    const rows = await this.db.selectFrom('template_versions').selectAll().where('template_id', '=', id).orderBy('version').execute();
    return { template_id: id, items: rows.map(versionView) };
  }

  async render(id: string, variables: Record<string, unknown>) {
    const template = await this.find(this.db, id);
    const result = renderTemplate(template.content, variables);
    if (!result.ok) {
      throw new ValidationError(`missing template variables: ${result.missing.join(', ')}`, result.missing.map((v) => ({ field: `variables.${v}`, message: 'is required by the template' })));
    }
    const seg = segmentMessage(result.text);
    return { message: result.text, segments: seg.segments, encoding: seg.encoding, characters: seg.characters, template_id: id, version: template.version };
  }

  /** For sending: an active template, or a 422 naming template_id. */
  async forSend(id: string, db: Kysely<Database> = this.db): Promise<TemplateForSend> {
    const t = await db.selectFrom('templates').selectAll().where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
    if (!t) throw new ValidationError(`template ${id} does not exist`, [{ field: 'template_id', message: `template ${id} does not exist` }]);
    if (t.is_active !== 1) throw new ValidationError(`template ${id} is inactive`, [{ field: 'template_id', message: `template ${id} is inactive` }]);
    return { id: t.id, version: t.version, content: t.content, sms_type: t.sms_type as SmsType };
  }

  /** Runs in the sending transaction, so a use is counted exactly when its messages are stored. */
  async recordUse(trx: Kysely<Database>, id: string, uses: number, now: number): Promise<void> {
    await trx.updateTable('templates').set((eb) => ({ usage_count: eb('usage_count', '+', uses), last_used_at: now })).where('id', '=', id).execute();
  }

  private async find(db: Kysely<Database>, id: string): Promise<Row> {
    const t = await db.selectFrom('templates').selectAll().where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
    if (!t) throw new NotFoundError('template', id);
    return t;
  }

  private async recordVersion(trx: Kysely<Database>, t: Row, change: string): Promise<void> {
    await trx.insertInto('template_versions').values({
      template_id: t.id, version: t.version, name: t.name, content: t.content, variables: t.variables,
      category: t.category, sms_type: t.sms_type, is_active: t.is_active, change, created_at: t.updated_at,
    }).execute();
  }
}
