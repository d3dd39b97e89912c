/** Telegram alerts: chat id, write-only bot token, heartbeat, per-event on/silent/off, test. */
import { type FormEvent, useEffect, useRef, useState } from 'react';
import { ApiError } from '../api/client';
import { endpoints } from '../api/endpoints';
import type { TelegramBody, TelegramSettings } from '../api/types';
import { type FieldErrors, type FieldSpec, FORM_LEVEL, parseField, serverErrors } from '../forms';
import { useI18n } from '../i18n';
import type { MessageKey } from '../i18n/en';
import { FieldErrorText } from './FieldError';

type Level = 'on' | 'silent' | 'off';
const LEVELS: readonly Level[] = ['on', 'silent', 'off'];

/** The alert service's event types and their delivery when not configured (mirrors
 * `grvtmm.alerts.notifier.EVENT_DEFAULTS`); the critical-only ones are always sent. */
export const EVENT_DEFAULTS: Record<string, Level> = {
  startup: 'on',
  stop: 'on',
  mode: 'on',
  fill: 'on',
  venue: 'on',
  warning: 'silent',
  heartbeat: 'silent',
};
export const TUNABLE_EVENTS = Object.keys(EVENT_DEFAULTS);
export const CRITICAL_EVENTS = ['breaker', 'halt', 'flatten', 'auth', 'store'] as const;
const KNOWN_EVENTS = new Set<string>([...TUNABLE_EVENTS, ...CRITICAL_EVENTS]);
const FIELDS = ['chat_id', 'bot_token', 'heartbeat_minutes', 'language', 'large_fill_notional', 'disconnect_alert_s', 'events'];

function eventLabel(name: string, t: (k: MessageKey) => string): string {
  return KNOWN_EVENTS.has(name) ? t(`tg.event.${name}` as MessageKey) : name;
}

function levelOf(events: Record<string, Level>, name: string): Level {
  return events[name] ?? EVENT_DEFAULTS[name] ?? 'on';
}

function numberSpec(name: string, kind: 'integer' | 'number'): FieldSpec {
  return { name, kind, nullable: false, options: [], description: '', defaultValue: 0 };
}

function NumberField(props: {
  id: string;
  name: string;
  label: string;
  help: string;
  value: string;
  error: FieldErrors[string] | undefined;
  disabled: boolean;
  onChange(value: string): void;
}) {
  return (
    <div className={`field ${props.error ? 'has-error' : ''}`}>
      <label htmlFor={props.id}>{props.label}</label>
      <input id={props.id} type="text" inputMode="decimal" value={props.value} onChange={(e) => props.onChange(e.target.value)} disabled={props.disabled} data-testid={props.id} />
      <div className="field-help">{props.help}</div>
      {props.error && <FieldErrorText error={props.error} testId={`tg-error-${props.name}`} />}
    </div>
  );
}

export function TelegramPanel(props: { onSecretsChanged(): void }) {
  const { t } = useI18n();
  const [settings, setSettings] = useState<TelegramSettings | null>(null);
  const [chatId, setChatId] = useState('');
  const [numbers, setNumbers] = useState({ heartbeat_minutes: '60', large_fill_notional: '1000', disconnect_alert_s: '30' });
  const [language, setLanguage] = useState<'en' | 'zh'>('en');
  const [events, setEvents] = useState<Record<string, Level>>({});
  const tokenRef = useRef<HTMLInputElement | null>(null);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const [testState, setTestState] = useState<{ busy: boolean; text: string | null; ok: boolean }>({ busy: false, text: null, ok: false });

  const adopt = (s: TelegramSettings) => {
    setSettings(s);
    setChatId(s.chat_id ?? '');
    setNumbers({
      heartbeat_minutes: String(s.heartbeat_minutes),
      large_fill_notional: String(s.large_fill_notional),
      disconnect_alert_s: String(s.disconnect_alert_s ?? 30),
    });
    setLanguage(s.language);
    setEvents({ ...s.events });
  };
  useEffect(() => {
    endpoints.telegram().then(adopt, (e: unknown) => setErrors({ [FORM_LEVEL]: { code: null, text: e instanceof ApiError ? e.message : String(e) } }));
  }, []);

  const tunable = [...TUNABLE_EVENTS, ...Object.keys(events).filter((n) => !KNOWN_EVENTS.has(n))];

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setMessage(null);
    const hb = parseField(numberSpec('heartbeat_minutes', 'integer'), numbers.heartbeat_minutes);
    const lf = parseField(numberSpec('large_fill_notional', 'number'), numbers.large_fill_notional);
    const dc = parseField(numberSpec('disconnect_alert_s', 'integer'), numbers.disconnect_alert_s);
    if (!hb.ok || !lf.ok || !dc.ok) {
      const local: FieldErrors = {};
      if (!hb.ok) local.heartbeat_minutes = hb.error;
      if (!lf.ok) local.large_fill_notional = lf.error;
      if (!dc.ok) local.disconnect_alert_s = dc.error;
      setErrors(local);
      return;
    }
    // every tunable event is saved explicitly, so what the form shows is what the server uses
    const levels = Object.fromEntries(tunable.map((name) => [name, levelOf(events, name)]));
    const body: TelegramBody = {
      chat_id: chatId.trim() || null,
      heartbeat_minutes: hb.value as number,
      language,
      large_fill_notional: lf.value as number,
      disconnect_alert_s: dc.value as number,
      events: { ...events, ...levels },
    };
    const token = tokenRef.current?.value.trim();
    if (token) body.bot_token = token;
    setBusy(true);
    try {
      adopt(await endpoints.putTelegram(body));
      if (tokenRef.current) tokenRef.current.value = '';
      setErrors({});
      setMessage(t('tg.saved'));
      if (token) props.onSecretsChanged();
    } catch (e) {
      setErrors(e instanceof ApiError ? serverErrors(e.status, e.detail, FIELDS) : { [FORM_LEVEL]: { code: null, text: String(e) } });
    } finally {
      setBusy(false);
    }
  };

  const sendTest = async () => {
    setTestState({ busy: true, text: null, ok: false });
    try {
      const result = await endpoints.telegramTest();
      if (result.ok) setTestState({ busy: false, text: t('tg.testOk'), ok: true });
      else setTestState({ busy: false, text: t('tg.testFailed', { error: result.error ?? '?' }), ok: false });
    } catch (e) {
      const error = e instanceof ApiError ? `${e.status} ${e.message}` : String(e);
      setTestState({ busy: false, text: t('tg.testFailed', { error }), ok: false });
    }
  };

  const setNumber = (name: keyof typeof numbers) => (value: string) => setNumbers({ ...numbers, [name]: value });
  return (
    <section className="panel telegram" aria-label={t('tg.title')}>
      <div className="panel-head">
        <h2>{t('tg.title')}</h2>
      </div>
      <form onSubmit={(e) => void submit(e)} autoComplete="off" noValidate data-testid="telegram-form">
        <div className={`field ${errors.chat_id ? 'has-error' : ''}`}>
          <label htmlFor="tg-chat">{t('tg.chatId')}</label>
          <input id="tg-chat" type="text" value={chatId} onChange={(e) => setChatId(e.target.value)} disabled={busy} data-testid="tg-chat" />
          <div className="field-help">{t('tg.chatId.help')}</div>
          {errors.chat_id && <FieldErrorText error={errors.chat_id} testId="tg-error-chat_id" />}
        </div>
        <div className={`field ${errors.bot_token ? 'has-error' : ''}`}>
          <label htmlFor="tg-token">{t('tg.token')}</label>
          <input id="tg-token" ref={tokenRef} type="password" autoComplete="new-password" disabled={busy} data-testid="tg-token" />
          <div className="field-help">
            <span className={settings?.bot_token_set ? 'ok-text' : ''} data-testid="tg-token-state">
              {settings?.bot_token_set ? `✓ ${t('tg.token.set')}` : t('tg.token.notSet')}
            </span>{' '}
            · {t('tg.token.help')}
          </div>
          {errors.bot_token && <FieldErrorText error={errors.bot_token} testId="tg-error-bot_token" />}
        </div>
        <div className="field-row">
          <NumberField id="tg-heartbeat" name="heartbeat_minutes" label={t('tg.heartbeat')} help={t('tg.heartbeat.help')} value={numbers.heartbeat_minutes} error={errors.heartbeat_minutes} disabled={busy} onChange={setNumber('heartbeat_minutes')} />
          <NumberField id="tg-large" name="large_fill_notional" label={t('tg.largeFill')} help={t('tg.largeFill.help')} value={numbers.large_fill_notional} error={errors.large_fill_notional} disabled={busy} onChange={setNumber('large_fill_notional')} />
          <NumberField id="tg-disconnect" name="disconnect_alert_s" label={t('tg.disconnect')} help={t('tg.disconnect.help')} value={numbers.disconnect_alert_s} error={errors.disconnect_alert_s} disabled={busy} onChange={setNumber('disconnect_alert_s')} />
          <div className="field">
            <label htmlFor="tg-lang">{t('tg.language')}</label>
            <select id="tg-lang" value={language} onChange={(e) => setLanguage(e.target.value === 'zh' ? 'zh' : 'en')} disabled={busy}>
              <option value="en">English</option>
              <option value="zh">中文</option>
            </select>
          </div>
        </div>
        <fieldset className="events">
          <legend>{t('tg.events')}</legend>
          <div className="field-help">{t('tg.events.help')}</div>
          <table className="events-table">
            <tbody>
              {tunable.map((name) => (
                <tr key={name} data-testid={`tg-event-${name}`}>
                  <td>{eventLabel(name, t)}</td>
                  <td>
                    <div className="seg" role="radiogroup" aria-label={eventLabel(name, t)}>
                      {LEVELS.map((level) => (
                        <label key={level} className={levelOf(events, name) === level ? 'active' : ''}>
                          <input type="radio" name={`ev-${name}`} value={level} checked={levelOf(events, name) === level} onChange={() => setEvents({ ...events, [name]: level })} disabled={busy} />
                          {t(`tg.level.${level}`)}
                        </label>
                      ))}
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <div className="critical">
            <strong>{t('tg.critical')}:</strong> {CRITICAL_EVENTS.map((n) => eventLabel(n, t)).join(' · ')}
          </div>
        </fieldset>
        {errors[FORM_LEVEL] && <FieldErrorText error={errors[FORM_LEVEL]} testId="tg-error" />}
        {errors.events && <FieldErrorText error={errors.events} testId="tg-error-events" />}
        <div className="form-actions">
          <button type="submit" className="btn btn-primary" disabled={busy} data-testid="tg-save">
            {busy ? t('tg.saving') : t('tg.save')}
          </button>
          <button type="button" className="btn btn-ghost" disabled={testState.busy} onClick={() => void sendTest()} data-testid="tg-test">
            {testState.busy ? t('tg.testing') : t('tg.test')}
          </button>
          {message && (
            <span className="form-message" role="status">
              {message}
            </span>
          )}
        </div>
        {testState.text && (
          <div className={testState.ok ? 'form-message' : 'inline-error'} role="status" data-testid="tg-test-result">
            {testState.text}
          </div>
        )}
      </form>
    </section>
  );
}
