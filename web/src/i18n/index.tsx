/** Language context: 中文 / English, the operator's choice remembered in localStorage. */
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';
import { en, type MessageKey } from './en';
import { zh } from './zh';

export type Lang = 'en' | 'zh';
export const LANGS: readonly Lang[] = ['en', 'zh'];
export const DICTIONARIES: Record<Lang, Record<MessageKey, string>> = { en, zh };
export const LANG_STORAGE_KEY = 'grvtmm.lang';

export type Translate = (key: MessageKey, vars?: Record<string, string | number>) => string;

/** `text` with `{name}` placeholders replaced from `vars` (unknown names stay visible). */
export function interpolate(text: string, vars?: Record<string, string | number>): string {
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in vars ? String(vars[name]) : whole,
  );
}

export function translator(lang: Lang): Translate {
  const dict = DICTIONARIES[lang];
  return (key, vars) => interpolate(dict[key] ?? en[key] ?? key, vars);
}

/** The remembered language, else the browser's preference. */
export function initialLang(
  storage: Pick<Storage, 'getItem'> | null,
  browserLanguage: string | undefined,
): Lang {
  const stored = storage?.getItem(LANG_STORAGE_KEY);
  if (stored === 'en' || stored === 'zh') return stored;
  return browserLanguage?.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

interface I18n {
  lang: Lang;
  setLang(lang: Lang): void;
  t: Translate;
}

const I18nContext = createContext<I18n>({ lang: 'en', setLang: () => undefined, t: translator('en') });

function safeStorage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

export function I18nProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Lang>(() =>
    initialLang(safeStorage(), typeof navigator === 'undefined' ? undefined : navigator.language),
  );
  const setLang = useCallback((next: Lang) => {
    setLangState(next);
    safeStorage()?.setItem(LANG_STORAGE_KEY, next);
  }, []);
  const value = useMemo(() => {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    return { lang, setLang, t: translator(lang) };
  }, [lang, setLang]);
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18n {
  return useContext(I18nContext);
}

/** Server notices the dashboard knows, by their opening words; others are shown as sent. */
const NOTICES: readonly [string, MessageKey][] = [
  ['Demo mode:', 'notice.demo'],
  ['Paper mode:', 'notice.paper'],
  ['No operator password is set', 'notice.noPassword'],
];

export function noticeText(text: string, t: Translate): string {
  const known = NOTICES.find(([prefix]) => text.startsWith(prefix));
  return known ? t(known[1]) : text;
}
