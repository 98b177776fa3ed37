import type { ComponentModule, ComponentName } from './component.ts';
import { databaseModule } from './database/module.ts';
import { appServerModule, liferayHomeModule } from './files/module.ts';
import { searchComponent } from './search/index.ts';
import { sourceModule } from './source/index.ts';

/**
 * The components this build knows, in workflow order. Adding a component is one line here
 * (and its construct in cdk/components/registry.ts).
 */
export const COMPONENT_MODULES: readonly ComponentModule[] = [
  databaseModule,
  liferayHomeModule,
  appServerModule,
  searchComponent,
  sourceModule,
];

export function componentModule(name: ComponentName): ComponentModule | undefined {
  return COMPONENT_MODULES.find((module) => module.name === name);
}
