/** A validation error under a field: the translated kind (when known) and the server's text. */
import type { FieldError } from '../forms';
import { useI18n } from '../i18n';
import type { MessageKey } from '../i18n/en';

export function fieldErrorText(error: FieldError, translate: (key: MessageKey) => string): string {
  if (!error.code) return error.text;
  const kind = translate(error.code as MessageKey);
  return error.text ? `${kind} (${error.text})` : kind;
}

export function FieldErrorText(props: { error: FieldError; testId: string }) {
  const { t } = useI18n();
  return (
    <div className="field-error" role="alert" data-testid={props.testId}>
      {fieldErrorText(props.error, (k) => t(k))}
    </div>
  );
}
