import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { api, ApiError, type Body, type Template } from '../api/client';
import { Empty, ErrorState, QueryView } from '../components/states';
import { useDebounced } from '../debounce';
import { formatTime } from '../format';
import { Link, navigate, useLocation, withSearch } from '../router';
import { useSession } from '../session';
import { placeholdersOf, renderTemplate, segmentMessage } from '../sms-preview';

const SMS_TYPES = ['transactional', 'promotional', 'otp', 'alert', 'marketing'] as const;
type SmsType = (typeof SMS_TYPES)[number];

/** Templates: the list, one template with a live render and its versions, and a form to create or change one. */
export default function TemplatesPage() {
  const { search } = useLocation();
  const { can } = useSession();
  const selected = search.get('id') ?? undefined;
  const creating = search.get('new') === '1';
  const list = useQuery({ queryKey: ['templates'], queryFn: ({ signal }) => api.get('/api/templates', { query: { limit: 100 }, signal }) });
  return (
    <div className="split">
      <section aria-labelledby="list-heading" className="list-pane">
        <div className="toolbar">
          <h2 id="list-heading" className="small">All templates</h2>
          {can('templates:write') && <Link to={withSearch('/templates', { new: 1 })} className="button">New template</Link>}
        </div>
        <QueryView query={list} what="templates">
          {(page) => page.items.length === 0 ? <Empty>No template yet.</Empty> : (
            <ul className="plain-list">
              {page.items.map((t) => (
                <li key={t.id}>
                  <Link to={withSearch('/templates', { id: t.id })} aria-current={t.id === selected ? 'true' : undefined}>{t.name}</Link>
                  <span className="muted"> {t.id} · v{t.version}{t.is_active ? '' : ' · inactive'}</span>
                </li>
              ))}
            </ul>
          )}
        </QueryView>
      </section>
      <div className="detail-pane">
        {creating && can('templates:write') && <TemplateForm key="new" />}
        {!creating && selected && <TemplateDetail key={selected} id={selected} />}
        {!creating && !selected && <Empty>Choose a template{can('templates:write') ? ', or make a new one' : ''}.</Empty>}
      </div>
    </div>
  );
}

/** Create (no `template`) or change a template; the preview renders the draft with the gateway's own template code. */
function TemplateForm({ template, onDone }: { template?: Template; onDone?: () => void }) {
  const queries = useQueryClient();
  const [id, setId] = useState('');
  const [name, setName] = useState(template?.name ?? '');
  const [content, setContent] = useState(template?.content ?? '');
  const [category, setCategory] = useState(template?.category ?? '');
  const [smsType, setSmsType] = useState<SmsType>((template?.sms_type as SmsType) ?? 'transactional');
  const [values, setValues] = useState<Record<string, string>>({});
  const save = useMutation({
    mutationFn: async () => {
      const fields = { name, content, category: category || null, sms_type: smsType };
      if (template) return api.put('/api/templates/{template_id}', { params: { template_id: template.id }, body: fields as Body<'/api/templates/{template_id}', 'put'> });
      return api.post('/api/templates', { body: { ...fields, ...(id ? { id } : {}) } });
    },
    onSuccess: (saved) => {
      void queries.invalidateQueries({ queryKey: ['templates'] });
      void queries.invalidateQueries({ queryKey: ['template', saved.id] });
      void queries.invalidateQueries({ queryKey: ['versions', saved.id] });
      onDone?.();
      navigate(withSearch('/templates', { id: saved.id }));
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate();
  };
  const names = placeholdersOf(content);
  // A placeholder without a value yet stays as written, so the preview fills in as values are typed.
  const rendered = renderTemplate(content, Object.fromEntries(names.map((n) => [n, values[n] || `{{${n}}}`])));
  const shown = rendered.ok ? rendered.text : content;
  const waiting = names.filter((n) => !values[n]);
  const counted = shown ? segmentMessage(shown) : undefined;
  return (
    <form className="card" onSubmit={submit} aria-label={template ? `Change ${template.name}` : 'New template'}>
      <h2 className="small">{template ? `Change ${template.name} (makes version ${template.version + 1})` : 'New template'}</h2>
      {!template && (
        <div className="field">
          <label htmlFor="t-id">Id (optional)</label>
          <input id="t-id" value={id} onChange={(e) => setId(e.target.value)} pattern="[a-z0-9_\-]{1,64}" aria-describedby="t-id-help" />
          <p id="t-id-help" className="help">Lower-case letters, digits, <code>_</code> and <code>-</code>; left empty, the gateway makes one.</p>
        </div>
      )}
      <div className="field"><label htmlFor="t-name">Name</label><input id="t-name" required value={name} onChange={(e) => setName(e.target.value)} /></div>
      <div className="field">
        <label htmlFor="t-content">Content</label>
        <textarea id="t-content" required rows={4} value={content} onChange={(e) => setContent(e.target.value)} aria-describedby="t-content-help" />
        <p id="t-content-help" className="help">Placeholders: <code>{'{{name}}'}</code>. Found: {names.length > 0 ? names.join(', ') : 'none'}.</p>
      </div>
      <div className="row">
        <div className="field"><label htmlFor="t-category">Category</label><input id="t-category" value={category} onChange={(e) => setCategory(e.target.value)} /></div>
        <div className="field">
          <label htmlFor="t-type">Type</label>
          <select id="t-type" value={smsType} onChange={(e) => setSmsType(e.target.value as SmsType)}>{SMS_TYPES.map((t) => <option key={t}>{t}</option>)}</select>
        </div>
      </div>
      {names.length > 0 && (
        <fieldset>
          <legend>Try values</legend>
          {names.map((n) => (
            <div className="field" key={n}><label htmlFor={`t-var-${n}`}>{n}</label><input id={`t-var-${n}`} value={values[n] ?? ''} onChange={(e) => setValues({ ...values, [n]: e.target.value })} /></div>
          ))}
        </fieldset>
      )}
      <div className="preview" aria-live="polite">
        <h3 className="small">Preview</h3>
        <pre className="sms-text" data-testid="draft-preview">{shown || ' '}</pre>
        <p className="muted">{counted ? `${counted.characters} characters · ${counted.encoding} · ${counted.segments} segment(s)` : ''}{waiting.length > 0 ? ` · no value yet for ${waiting.join(', ')}` : ''}</p>
      </div>
      <div className="actions">
        <button type="submit" disabled={save.isPending}>{save.isPending ? 'Saving…' : template ? 'Save new version' : 'Create template'}</button>
        {template && <button type="button" className="secondary" onClick={onDone}>Cancel</button>}
      </div>
      {save.isError && <ErrorState error={save.error} />}
    </form>
  );
}

function TemplateDetail({ id }: { id: string }) {
  const { can } = useSession();
  const queries = useQueryClient();
  const [editing, setEditing] = useState(false);
  const template = useQuery({ queryKey: ['template', id], queryFn: ({ signal }) => api.get('/api/templates/{template_id}', { params: { template_id: id }, signal }) });
  const remove = useMutation({
    mutationFn: () => api.delete('/api/templates/{template_id}', { params: { template_id: id } }),
    onSuccess: () => {
      void queries.invalidateQueries({ queryKey: ['templates'] });
      navigate('/templates');
    },
  });
  return (
    <QueryView query={template} what="the template">
      {(t) => editing ? <TemplateForm template={t} onDone={() => setEditing(false)} /> : (
        <>
          <section className="card" aria-labelledby="template-heading">
            <h2 id="template-heading">{t.name}</h2>
            <dl className="facts compact">
              <div><dt>Id</dt><dd className="mono">{t.id}</dd></div>
              <div><dt>Version</dt><dd>{t.version}</dd></div>
              <div><dt>Type</dt><dd>{t.sms_type}{t.category ? ` · ${t.category}` : ''}</dd></div>
              <div><dt>Used</dt><dd>{t.usage_count} time(s), last {formatTime(t.last_used_at)}</dd></div>
            </dl>
            <pre className="sms-text">{t.content}</pre>
            {can('templates:write') && (
              <div className="actions">
                <button type="button" onClick={() => setEditing(true)}>Edit</button>
                <button type="button" className="secondary" disabled={remove.isPending} onClick={() => window.confirm(`Delete template ${t.name}?`) && remove.mutate()}>Delete</button>
              </div>
            )}
            {remove.isError && <ErrorState error={remove.error} />}
          </section>
          <RenderPreview template={t} />
          <Versions id={t.id} />
        </>
      )}
    </QueryView>
  );
}

/** The saved template rendered by the gateway (POST /api/templates/{id}/render) as the variables are typed. */
function RenderPreview({ template }: { template: Template }) {
  const [values, setValues] = useState<Record<string, string>>({});
  const variables = useDebounced(values);
  const render = useQuery({
    queryKey: ['render', template.id, template.version, variables],
    queryFn: ({ signal }) => api.post('/api/templates/{template_id}/render', { params: { template_id: template.id }, body: { variables }, signal }),
    placeholderData: keepPreviousData,
    retry: false,
  });
  const missing = render.error instanceof ApiError && render.error.status === 422;
  return (
    <section className="card" aria-labelledby="render-heading">
      <h2 id="render-heading" className="small">Preview with values</h2>
      {template.variables.length === 0 ? <p className="muted">No placeholders.</p> : (
        <div className="row wrap">
          {template.variables.map((n) => (
            <div className="field" key={n}><label htmlFor={`r-${n}`}>{n}</label><input id={`r-${n}`} value={values[n] ?? ''} onChange={(e) => setValues({ ...values, [n]: e.target.value })} /></div>
          ))}
        </div>
      )}
      <div aria-live="polite">
        {render.isError && !missing && <ErrorState error={render.error} />}
        {missing && (
          <p className="muted" data-testid="render-missing">
            Type a value for {missingNames(render.error).join(', ') || 'every placeholder'} to see the text as the gateway sends it.
          </p>
        )}
        {render.data && !render.isError && (
          <>
            <pre className="sms-text" data-testid="render-preview">{render.data.message}</pre>
            <p className="muted">{render.data.characters} characters · {render.data.encoding} · {render.data.segments} segment(s), as the gateway renders it</p>
          </>
        )}
      </div>
    </section>
  );
}

/** The variables a 422 from the render names (`variables.code` -> `code`). */
function missingNames(error: unknown): string[] {
  return error instanceof ApiError ? error.errors.map((e) => e.field.replace(/^variables\./, '')) : [];
}

const CHANGED_FIELDS = ['name', 'content', 'category', 'sms_type', 'is_active'] as const;

function Versions({ id }: { id: string }) {
  const versions = useQuery({ queryKey: ['versions', id], queryFn: ({ signal }) => api.get('/api/templates/{template_id}/versions', { params: { template_id: id }, signal }) });
  return (
    <section className="card" aria-labelledby="versions-heading">
      <h2 id="versions-heading" className="small">Versions</h2>
      <QueryView query={versions} what="versions">
        {(v) => (
          <ol className="timeline">
            {[...v.items].reverse().map((item) => {
              const previous = v.items.find((p) => p.version === item.version - 1);
              const changed = previous ? CHANGED_FIELDS.filter((f) => JSON.stringify(previous[f]) !== JSON.stringify(item[f])) : [];
              return (
                <li key={item.version}>
                  <strong>v{item.version}</strong> <span>{item.change}</span> <time dateTime={item.created_at}>{formatTime(item.created_at)}</time>
                  {changed.length > 0 && <span className="detail">changed: {changed.map((f) => f === 'content' ? `content (was “${previous!.content}”)` : `${f} (was ${String(previous![f])})`).join('; ')}</span>}
                </li>
              );
            })}
          </ol>
        )}
      </QueryView>
    </section>
  );
}
