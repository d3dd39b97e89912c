import { describe, expect, it } from 'vitest';
import openapi from '../src/api/openapi.json';
import { DICTIONARIES, initialLang, interpolate, LANG_STORAGE_KEY, noticeText, translator } from '../src/i18n';
import { en } from '../src/i18n/en';
import { PARAM_HELP_ZH, PARAM_LABELS } from '../src/i18n/params';
import { zh } from '../src/i18n/zh';

const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
const hasHan = (text: string) => /\p{Script=Han}/u.test(text);

describe('dictionaries', () => {
  it('every key exists in both languages, none empty', () => {
    expect(Object.keys(zh).sort()).toEqual(Object.keys(en).sort());
    for (const [lang, dict] of Object.entries(DICTIONARIES)) {
      for (const [key, value] of Object.entries(dict)) {
        expect(value.trim(), `${lang}:${key}`).not.toBe('');
      }
    }
  });

  it('placeholders match between languages', () => {
    for (const key of Object.keys(en) as (keyof typeof en)[]) {
      expect(placeholders(zh[key]), key).toEqual(placeholders(en[key]));
    }
  });

  it('Chinese labels are Chinese unless they are names or symbols', () => {
    const sameAllowed = new Set(['app.title', 'card.unit.usdt', 'keys.apiKey', 'secret.grvt.api_key', 'secret.grvt.api_secret', 'liq.maker', 'liq.taker', 'card.fillsDetail']);
    const untranslated = (Object.keys(en) as (keyof typeof en)[]).filter((k) => !sameAllowed.has(k) && !hasHan(zh[k]));
    expect(untranslated).toEqual([]);
  });
});

describe('strategy parameters', () => {
  const properties = Object.keys(openapi.components.schemas.StrategyConfig.properties);

  it('the published schema has parameters to label', () => {
    expect(properties).toContain('gamma');
    expect(properties.length).toBeGreaterThan(10);
  });

  it('every parameter of the server schema has a label in both languages and a Chinese meaning', () => {
    for (const name of properties) {
      expect(PARAM_LABELS.en[name], `en label ${name}`).toBeTruthy();
      expect(PARAM_LABELS.zh[name], `zh label ${name}`).toBeTruthy();
      expect(PARAM_HELP_ZH[name], `zh meaning ${name}`).toBeTruthy();
      expect(hasHan(PARAM_HELP_ZH[name] as string), name).toBe(true);
    }
  });
});

describe('translate', () => {
  it('interpolates known placeholders and leaves unknown ones visible', () => {
    expect(interpolate('a {x} b {y}', { x: 1 })).toBe('a 1 b {y}');
    expect(translator('zh')('controls.confirm.yes', { action: '停止' })).toBe('确定停止');
    expect(translator('en')('page.of', { from: 1, to: 10, total: 30 })).toBe('1–10 of 30');
  });

  it('remembers the operator choice, else follows the browser', () => {
    const store = (value: string | null) => ({ getItem: (k: string) => (k === LANG_STORAGE_KEY ? value : null) });
    expect(initialLang(store('zh'), 'en-US')).toBe('zh');
    expect(initialLang(store('en'), 'zh-CN')).toBe('en');
    expect(initialLang(store(null), 'zh-TW')).toBe('zh');
    expect(initialLang(store('fr'), 'de-DE')).toBe('en');
    expect(initialLang(null, undefined)).toBe('en');
  });

  it('translates the server notices it knows and passes others through', () => {
    const t = translator('zh');
    expect(hasHan(noticeText('Demo mode: a built-in synthetic market ...', t))).toBe(true);
    expect(noticeText('Something new from the server', t)).toBe('Something new from the server');
  });
});
