/** A component name as it appears in construct ids: `liferayHome` → `LiferayHome`. */
export function pascalCase(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}
