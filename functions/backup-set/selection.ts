import { COMPONENT_NAMES, type ComponentName } from '#components/component.ts';

/**
 * A flag per known component, for the workflows' Choice states: a Choice on a path that is absent
 * fails the execution, so every name is present, true or false.
 */
export function selectionFlags(selected: readonly ComponentName[]): Record<ComponentName, boolean> {
  return Object.fromEntries(COMPONENT_NAMES.map((name) => [name, selected.includes(name)])) as Record<
    ComponentName,
    boolean
  >;
}
