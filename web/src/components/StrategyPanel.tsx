/** Strategy parameters: one input per schema field with its one-line meaning, server
 * validation errors next to the field, the symbol locked while the engine runs. */
import { type FormEvent, useEffect, useMemo, useState } from 'react';
import { ApiError } from '../api/client';
import { endpoints } from '../api/endpoints';
import type { EngineMode, StrategyConfig, StrategySchema } from '../api/types';
import { changedValues, type FieldErrors, type FieldSpec, FORM_LEVEL, fieldSpec, parseField, serverErrors, toText } from '../forms';
import { useI18n } from '../i18n';
import type { MessageKey } from '../i18n/en';
import { PARAM_HELP_ZH, PARAM_LABELS } from '../i18n/params';
import { FieldErrorText } from './FieldError';
import { LockIcon } from './Icons';

export const GROUPS: readonly { id: string; fields: readonly string[] }[] = [
  { id: 'model', fields: ['strategy', 'symbol', 'model', 'gamma', 'sigma', 'k', 'intensity_a', 'horizon_s', 'skew_factor'] },
  { id: 'risk', fields: ['max_drawdown', 'max_inventory_ratio', 'one_sided_enter', 'one_sided_exit'] },
  { id: 'sizing', fields: ['effective_leverage', 'capital_usdt', 'order_size_fraction', 'target_hourly_volume'] },
  { id: 'quoting', fields: ['min_half_spread_ticks', 'fee_floor', 'depth_ticks', 'vol_halflife_s'] },
  { id: 'requote', fields: ['min_order_age_s', 'max_order_age_s', 'price_tolerance_ticks', 'size_tolerance'] },
  { id: 'fixed', fields: ['half_spread_ticks', 'order_qty', 'step_ms'] },
];

const RUNNING: ReadonlySet<EngineMode> = new Set(['reconciling', 'running', 'paused', 'stopping', 'halting', 'flattening']);

/** Schema fields grouped for display; fields no group names go to "other". */
export function groupFields(specs: FieldSpec[]): { id: string; specs: FieldSpec[] }[] {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const used = new Set<string>();
  const groups = GROUPS.map((g) => {
    const list = g.fields.flatMap((name) => {
      const spec = byName.get(name);
      if (!spec) return [];
      used.add(name);
      return [spec];
    });
    return { id: g.id, specs: list };
  });
  groups.push({ id: 'other', specs: specs.filter((s) => !used.has(s.name)) });
  return groups.filter((g) => g.specs.length > 0);
}

function FieldInput(props: { spec: FieldSpec; value: string; disabled: boolean; onChange(v: string): void }) {
  const { spec, value } = props;
  const id = `param-${spec.name}`;
  const common = { id, name: spec.name, disabled: props.disabled, 'data-testid': id };
  if (spec.kind === 'boolean') {
    return (
      <select {...common} value={value} onChange={(e) => props.onChange(e.target.value)}>
        <option value="true">true</option>
        <option value="false">false</option>
      </select>
    );
  }
  if (spec.kind === 'enum') {
    return (
      <select {...common} value={value} onChange={(e) => props.onChange(e.target.value)}>
        {spec.options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    );
  }
  const numeric = spec.kind === 'number' || spec.kind === 'integer';
  return <input {...common} type="text" inputMode={numeric ? 'decimal' : 'text'} autoComplete="off" spellCheck={false} value={value} onChange={(e) => props.onChange(e.target.value)} />;
}

export function StrategyPanel(props: { engineMode: EngineMode | undefined }) {
  const { t, lang } = useI18n();
  const [schema, setSchema] = useState<StrategySchema | null>(null);
  const [config, setConfig] = useState<StrategyConfig | null>(null);
  const [texts, setTexts] = useState<Record<string, string>>({});
  const [errors, setErrors] = useState<FieldErrors>({});
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);

  const load = async () => {
    try {
      const [s, c] = await Promise.all([endpoints.strategySchema(), endpoints.strategy()]);
      setSchema(s);
      setConfig(c);
      setTexts(Object.fromEntries(Object.keys(s.properties).map((k) => [k, toText((c as Record<string, unknown>)[k])])));
      setLoadError(null);
    } catch (e) {
      setLoadError(e instanceof ApiError ? e.message : String(e));
    }
  };
  useEffect(() => {
    void load();
  }, []);

  const specs = useMemo(() => (schema ? Object.entries(schema.properties).map(([n, p]) => fieldSpec(n, p)) : []), [schema]);
  const locked = props.engineMode !== undefined && RUNNING.has(props.engineMode);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!config) return;
    setMessage(null);
    const parsed: Record<string, unknown> = {};
    const local: FieldErrors = {};
    for (const spec of specs) {
      const result = parseField(spec, texts[spec.name] ?? '');
      if (result.ok) parsed[spec.name] = result.value;
      else local[spec.name] = result.error;
    }
    if (Object.keys(local).length > 0) {
      setErrors(local);
      return;
    }
    const changes = changedValues(config as Record<string, unknown>, parsed);
    if (locked) delete changes.symbol;
    if (Object.keys(changes).length === 0) {
      setErrors({});
      setMessage(t('strategy.nothing'));
      return;
    }
    setBusy(true);
    try {
      const applied = await endpoints.putStrategy(changes as Partial<StrategyConfig>);
      setConfig(applied);
      setTexts(Object.fromEntries(specs.map((s) => [s.name, toText((applied as Record<string, unknown>)[s.name])])));
      setErrors({});
      setMessage(t('strategy.saved'));
    } catch (e) {
      if (e instanceof ApiError) setErrors(serverErrors(e.status, e.detail, specs.map((s) => s.name)));
      else setErrors({ [FORM_LEVEL]: { code: null, text: String(e) } });
    } finally {
      setBusy(false);
    }
  };

  const reset = () => {
    if (!config) return;
    setTexts(Object.fromEntries(specs.map((s) => [s.name, toText((config as Record<string, unknown>)[s.name])])));
    setErrors({});
    setMessage(null);
  };

  if (loadError) return <section className="panel"><div className="inline-error">{t('common.error', { error: loadError })}</div></section>;
  if (!schema || !config) return <section className="panel"><div className="inline-note">{t('strategy.loading')}</div></section>;

  const formError = errors[FORM_LEVEL];
  return (
    <section className="panel strategy" aria-label={t('strategy.title')}>
      <div className="panel-head">
        <h2>{t('strategy.title')}</h2>
      </div>
      <form onSubmit={(e) => void submit(e)} noValidate data-testid="strategy-form">
        <div className="param-groups">
        {groupFields(specs).map((group) => (
          <fieldset key={group.id} className="param-group">
            <legend>{t(`strategy.group.${group.id}` as MessageKey)}</legend>
            {group.specs.map((spec) => {
              const current = toText((config as Record<string, unknown>)[spec.name]);
              const changed = (texts[spec.name] ?? '') !== current;
              const fieldLocked = spec.name === 'symbol' && locked;
              const help = lang === 'zh' ? (PARAM_HELP_ZH[spec.name] ?? spec.description) : spec.description;
              const error = errors[spec.name];
              return (
                <div key={spec.name} className={`field ${error ? 'has-error' : ''} ${changed ? 'changed' : ''}`} data-testid={`field-${spec.name}`}>
                  <label htmlFor={`param-${spec.name}`}>
                    <span className="field-label">{PARAM_LABELS[lang][spec.name] ?? spec.name}</span>
                    <code className="field-name">{spec.name}</code>
                  </label>
                  <FieldInput spec={spec} value={texts[spec.name] ?? ''} disabled={busy || fieldLocked} onChange={(v) => setTexts({ ...texts, [spec.name]: v })} />
                  <div className="field-help">
                    {help}
                    {fieldLocked && (
                      <span className="lock" data-testid="symbol-locked">
                        {' '}
                        · <LockIcon /> {t('strategy.locked')}
                      </span>
                    )}
                  </div>
                  {error && <FieldErrorText error={error} testId={`error-${spec.name}`} />}
                </div>
              );
            })}
          </fieldset>
        ))}
        </div>
        {formError && <FieldErrorText error={formError} testId="error-form" />}
        <div className="form-actions">
          <button type="button" className="btn btn-ghost" onClick={reset} disabled={busy}>
            {t('strategy.reset')}
          </button>
          <button type="submit" className="btn btn-primary" disabled={busy} data-testid="strategy-save">
            {busy ? t('strategy.saving') : t('strategy.save')}
          </button>
          {message && <span className="form-message" role="status" data-testid="strategy-message">{message}</span>}
        </div>
      </form>
    </section>
  );
}
