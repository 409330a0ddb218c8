// The one function of parse-prometheus-text-format (it ships no types): the
// text format's families, as the tests read them.
declare module 'parse-prometheus-text-format' {
  interface MetricFamily {
    name: string;
    help?: string;
    type?: string;
    metrics: { value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string; sum?: string }[];
  }
  export default function parsePrometheusTextFormat(text: string): MetricFamily[];
}
