import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

export const METRICS_NAMESPACE = 'LiferayBackup';

export type MetricUnitValue = (typeof MetricUnit)[keyof typeof MetricUnit];

export interface MetricPoint {
  readonly name: string;
  readonly unit: MetricUnitValue;
  readonly value: number;
  readonly dimensions: Readonly<Record<string, string>>;
}

/** Where handlers send metrics: CloudWatch (EMF via Powertools) on Lambda, nowhere locally. */
export interface MetricsSink {
  publish(points: readonly MetricPoint[]): void;
}

/** Powertools Metrics, one EMF record per point (points carry different dimensions). */
export function powertoolsMetricsSink(): MetricsSink {
  const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'liferay-backup' });
  return {
    publish(points) {
      for (const point of points) {
        const single = metrics.singleMetric();
        for (const [name, value] of Object.entries(point.dimensions)) single.addDimension(name, value);
        single.addMetric(point.name, point.unit, point.value);
      }
    },
  };
}

/** Local runs have no CloudWatch; the CLI prints results instead. */
export const discardMetrics: MetricsSink = { publish: () => undefined };

export { MetricUnit };
