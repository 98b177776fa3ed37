import { beginBackup } from '#backup-set/begin-backup.ts';
import { checkBackupAge } from '#backup-set/check-backup-age.ts';
import { commitBackup } from '#backup-set/commit-backup.ts';
import { markSet, sweepPrefix } from '#backup-set/garbage-collection.ts';
import { reportRestore } from '#backup-set/report-restore.ts';
import { deleteSet, finishRetention, planRetention } from '#backup-set/retention.ts';
import { checkHook, runHook } from '#backup-set/run-hook.ts';
import { validateRestore } from '#backup-set/validate-restore.ts';
import { beginVerify, reportVerify, verifyComponent } from '#backup-set/verify.ts';
import { COMPONENT_MODULES } from '#components/registry.ts';
import type { Handler } from '#runtime/runtime.ts';
import { LOCAL_ITEM_READER_HANDLER } from './adapt-for-local-interpreter.ts';
import { readLocalItems } from './local-item-reader.ts';

/** Every handler by id: what the local runner binds each workflow Task to. */
export function allHandlers(): Map<string, Handler> {
  const handlers = new Map<string, Handler>([
    ['begin-backup', beginBackup],
    ['commit-backup', commitBackup],
    ['validate-restore', validateRestore],
    ['report-restore', reportRestore],
    ['check-backup-age', checkBackupAge],
    ['run-hook', runHook],
    ['check-hook', checkHook],
    ['plan-retention', planRetention],
    ['delete-set', deleteSet],
    ['mark-set', markSet],
    ['sweep-prefix', sweepPrefix],
    ['finish-retention', finishRetention],
    ['begin-verify', beginVerify],
    ['verify-component', verifyComponent],
    ['report-verify', reportVerify],
    [LOCAL_ITEM_READER_HANDLER, readLocalItems],
  ]);
  for (const module of COMPONENT_MODULES) {
    for (const [id, handler] of Object.entries(module.handlers)) {
      if (handlers.has(id)) throw new Error(`handler id ${id} of component ${module.name} is already taken`);
      handlers.set(id, handler);
    }
  }
  return handlers;
}
