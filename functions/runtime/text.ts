/**
 * `text` cut to at most `max` characters, the last of them an ellipsis when anything was cut: for
 * texts quoted in warnings, results and notifications, whose room is bounded.
 */
export function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
