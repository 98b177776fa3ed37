/**
 * Progress for people on stderr: on a terminal one line rewritten in place, otherwise a line at
 * most every few seconds (so CI logs stay readable). Workflow steps always get their own line.
 */
export class ProgressPrinter {
  private lastLineAt = 0;
  private pending = false;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly quiet = false,
  ) {}

  step(stateName: string): void {
    if (this.quiet) return;
    this.clear();
    this.stream.write(`→ ${stateName}\n`);
  }

  update(message: string): void {
    if (this.quiet) return;
    const now = Date.now();
    if (this.stream.isTTY) {
      this.stream.write(`\r\x1b[2K  ${message.slice(0, (this.stream.columns ?? 100) - 4)}`);
      this.pending = true;
    } else if (now - this.lastLineAt > 5000) {
      this.stream.write(`  ${message}\n`);
      this.lastLineAt = now;
    }
  }

  clear(): void {
    if (this.pending && this.stream.isTTY) this.stream.write('\r\x1b[2K');
    this.pending = false;
  }
}
