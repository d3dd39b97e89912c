/** GRVT keys: write-only inputs (uncontrolled, cleared after saving, never kept in state) and
 * the stored/not-stored status of each secret. */
import { type FormEvent, useEffect, useRef, useState } from 'react';
import { ApiError } from '../api/client';
import { endpoints } from '../api/endpoints';
import type { EngineMode, ExchangeBody, SecretsStatus } from '../api/types';
import { fmtDateTimeNs } from '../format';
import { type FieldErrors, FORM_LEVEL, serverErrors } from '../forms';
import { useI18n } from '../i18n';
import type { MessageKey } from '../i18n/en';
import { FieldErrorText } from './FieldError';
import { LockIcon } from './Icons';

const STOPPED: ReadonlySet<EngineMode> = new Set(['idle', 'stopped', 'halted']);
const FIELDS = ['api_key', 'api_secret', 'trading_account_id'] as const;
type SecretField = (typeof FIELDS)[number];
const LABELS: Record<SecretField, MessageKey> = {
  api_key: 'keys.apiKey',
  api_secret: 'keys.apiSecret',
  trading_account_id: 'keys.account',
};

export function SecretsList(props: { status: SecretsStatus | null; names: readonly string[] }) {
  const { t } = useI18n();
  return (
    <ul className="secret-list" data-testid="secrets-status">
      {props.names.map((name) => {
        const entry = props.status?.secrets[name];
        const set = entry?.set ?? false;
        return (
          <li key={name} className={set ? 'set' : 'unset'} data-testid={`secret-${name}`} data-set={set ? 'yes' : 'no'}>
            <span className="secret-name">{t(`secret.${name}` as MessageKey)}</span>
            <span className="secret-state">{set ? `✓ ${t('keys.set')}` : t('keys.notSet')}</span>
            {set && entry?.updated_at_ns ? <span className="secret-time">{t('keys.updated', { time: fmtDateTimeNs(entry.updated_at_ns) })}</span> : null}
          </li>
        );
      })}
    </ul>
  );
}

export function KeysPanel(props: { engineMode: EngineMode | undefined; secrets: SecretsStatus | null; onSecrets(s: SecretsStatus): void }) {
  const { t } = useI18n();
  const inputs = useRef<Partial<Record<SecretField, HTMLInputElement | null>>>({});
  const envRef = useRef<HTMLSelectElement | null>(null);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const locked = props.engineMode !== undefined && !STOPPED.has(props.engineMode);

  const clear = () => {
    for (const field of FIELDS) {
      const el = inputs.current[field];
      if (el) el.value = '';
    }
  };
  // drop anything typed if the page switches away (inputs never outlive the form)
  useEffect(() => clear, []);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setMessage(null);
    const body: ExchangeBody = {};
    for (const field of FIELDS) {
      const value = inputs.current[field]?.value.trim() ?? '';
      if (value) body[field] = value;
    }
    const env = envRef.current?.value;
    if (env === 'prod' || env === 'testnet') body.env = env;
    if (Object.keys(body).length === 0) {
      setErrors({ [FORM_LEVEL]: { code: null, text: t('keys.nothing') } });
      return;
    }
    setBusy(true);
    try {
      props.onSecrets(await endpoints.putExchange(body));
      clear();
      if (envRef.current) envRef.current.value = '';
      setErrors({});
      setMessage(t('keys.saved'));
    } catch (e) {
      setErrors(e instanceof ApiError ? serverErrors(e.status, e.detail, FIELDS) : { [FORM_LEVEL]: { code: null, text: String(e) } });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="panel keys" aria-label={t('keys.title')}>
      <div className="panel-head">
        <h2>{t('keys.title')}</h2>
      </div>
      <p className="panel-help">{t('keys.help')}</p>
      <h3>{t('keys.status')}</h3>
      <SecretsList status={props.secrets} names={['grvt.api_key', 'grvt.api_secret', 'grvt.trading_account_id']} />
      {props.secrets && <div className="inline-note">{t('keys.storage', { storage: props.secrets.storage })}</div>}
      <form onSubmit={(e) => void submit(e)} autoComplete="off" noValidate data-testid="keys-form">
        {FIELDS.map((field) => (
          <div key={field} className={`field ${errors[field] ? 'has-error' : ''}`}>
            <label htmlFor={`key-${field}`}>{t(LABELS[field])}</label>
            <input
              id={`key-${field}`}
              ref={(el) => {
                inputs.current[field] = el;
              }}
              type="password"
              autoComplete="new-password"
              spellCheck={false}
              disabled={locked || busy}
              data-testid={`key-${field}`}
            />
            {errors[field] && <FieldErrorText error={errors[field]} testId={`key-error-${field}`} />}
          </div>
        ))}
        <div className="field">
          <label htmlFor="key-env">{t('keys.env')}</label>
          <select id="key-env" ref={envRef} defaultValue="" disabled={locked || busy} data-testid="key-env">
            <option value="">{t('keys.env.keep')}</option>
            <option value="prod">prod</option>
            <option value="testnet">testnet</option>
          </select>
        </div>
        {locked && <div className="inline-note" data-testid="keys-locked"><LockIcon /> {t('keys.locked')}</div>}
        {errors[FORM_LEVEL] && <FieldErrorText error={errors[FORM_LEVEL]} testId="keys-error" />}
        <div className="form-actions">
          <button type="submit" className="btn btn-primary" disabled={locked || busy} data-testid="keys-save">
            {busy ? t('keys.saving') : t('keys.save')}
          </button>
          {message && <span className="form-message" role="status" data-testid="keys-message">{message}</span>}
        </div>
      </form>
    </section>
  );
}
