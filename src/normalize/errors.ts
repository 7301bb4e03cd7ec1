/** The payload passed its JSON Schema but a value cannot be normalized (bad currency, unparsable time...). */
export class InvalidPayloadError extends Error {
  override name = 'InvalidPayloadError'
}
