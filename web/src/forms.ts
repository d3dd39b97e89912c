/**
 * Form helpers: text inputs to typed values for the strategy schema, and server errors (FastAPI
 * 422 `detail[].loc`, 409 conflicts) mapped to the field they belong to.
 */
import type { JsonSchemaProperty } from './api/types';

export const FORM_LEVEL = '_form';

export type FieldKind = 'number' | 'integer' | 'boolean' | 'enum' | 'string';

export interface FieldSpec {
  name: string;
  kind: FieldKind;
  nullable: boolean;
  options: string[];
  description: string;
  defaultValue: unknown;
}

export interface FieldError {
  /** a dictionary key to translate, or null when `text` is shown as is */
  code: string | null;
  text: string;
}

export type FieldErrors = Record<string, FieldError>;

/** The input kind of a JSON-schema property (`anyOf: [number, null]` is a nullable number). */
export function fieldSpec(name: string, prop: JsonSchemaProperty): FieldSpec {
  const variants = prop.anyOf ?? [prop];
  const nullable = variants.some((v) => v.type === 'null');
  const main = variants.find((v) => v.type !== 'null') ?? prop;
  let kind: FieldKind = 'string';
  if (main.enum) kind = 'enum';
  else if (main.type === 'number') kind = 'number';
  else if (main.type === 'integer') kind = 'integer';
  else if (main.type === 'boolean') kind = 'boolean';
  return {
    name,
    kind,
    nullable,
    options: main.enum ?? [],
    description: prop.description ?? '',
    defaultValue: prop.default,
  };
}

/** The text an input shows for a config value. */
export function toText(value: unknown): string {
  if (value === null || value === undefined) return '';
  return String(value);
}

export type Parsed = { ok: true; value: unknown } | { ok: false; error: FieldError };

/** Parse an input's text for `spec`; numbers are checked here, bounds by the server. */
export function parseField(spec: FieldSpec, text: string): Parsed {
  const trimmed = text.trim();
  if (spec.kind === 'boolean') return { ok: true, value: trimmed === 'true' };
  if (spec.kind === 'enum' || spec.kind === 'string') {
    if (trimmed === '' && spec.nullable) return { ok: true, value: null };
    return { ok: true, value: trimmed };
  }
  if (trimmed === '') {
    if (spec.nullable) return { ok: true, value: null };
    return { ok: false, error: { code: 'form.notNumber', text: '' } };
  }
  const value = Number(trimmed);
  if (!Number.isFinite(value)) return { ok: false, error: { code: 'form.notNumber', text: '' } };
  if (spec.kind === 'integer' && !Number.isInteger(value)) {
    return { ok: false, error: { code: 'form.notInteger', text: '' } };
  }
  return { ok: true, value };
}

interface DetailItem {
  loc?: unknown;
  msg?: unknown;
  type?: unknown;
}

const KNOWN_TYPES = new Set([
  'greater_than',
  'greater_than_equal',
  'less_than',
  'less_than_equal',
  'extra_forbidden',
  'string_pattern_mismatch',
]);

/**
 * Field errors from a failed save. 422: each `detail[]` item goes to the field named by its
 * `loc` (after `body`); items for fields the form does not show go to the form level. 409 about
 * the symbol goes to the symbol field; anything else to the form level.
 */
export function serverErrors(status: number, detail: unknown, fields: readonly string[]): FieldErrors {
  const errors: FieldErrors = {};
  const known = new Set(fields);
  const add = (key: string, error: FieldError) => {
    const existing = errors[key];
    errors[key] = existing ? { code: null, text: `${existing.text}; ${error.text}` } : error;
  };
  if (status === 422 && Array.isArray(detail)) {
    for (const raw of detail as DetailItem[]) {
      const loc = Array.isArray(raw.loc) ? raw.loc.map(String) : [];
      const path = loc[0] === 'body' ? loc.slice(1) : loc;
      const field = path[0];
      const msg = typeof raw.msg === 'string' ? raw.msg : 'invalid';
      const type = typeof raw.type === 'string' ? raw.type : '';
      const code = KNOWN_TYPES.has(type) ? `form.error.${type}` : null;
      if (field !== undefined && known.has(field)) add(field, { code, text: msg });
      else add(FORM_LEVEL, { code: null, text: field !== undefined ? `${field}: ${msg}` : msg });
    }
    return errors;
  }
  const text = typeof detail === 'string' ? detail : `HTTP ${status}`;
  if (status === 409 && known.has('symbol') && /symbol/i.test(text)) add('symbol', { code: null, text });
  else add(FORM_LEVEL, { code: null, text });
  return errors;
}

/** Only the fields whose parsed value differs from the current config. */
export function changedValues(
  current: Record<string, unknown>,
  parsed: Record<string, unknown>,
): Record<string, unknown> {
  const changes: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(parsed)) {
    if (current[name] !== value) changes[name] = value;
  }
  return changes;
}
