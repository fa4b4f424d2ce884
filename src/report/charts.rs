//! SVG charts for the report, drawn with plotters' SVG backend (no JavaScript, no fonts to ship).

use anyhow::{Result, anyhow};
use plotters::prelude::*;

const WIDTH: u32 = 640;
const HEIGHT: u32 = 340;
const COLORS: [RGBColor; 6] = [
    RGBColor(36, 88, 166),
    RGBColor(230, 126, 34),
    RGBColor(127, 140, 141),
    RGBColor(39, 174, 96),
    RGBColor(192, 57, 43),
    RGBColor(142, 68, 173),
];

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("cannot draw a chart: {e}")
}

/// Grouped bars: one group per label, one bar per series (`(series name, value per label)`). Up to six
/// short labels stand along the x axis; more (or long ones) make the bars horizontal, one row per label.
pub fn bars(
    title: &str,
    labels: &[String],
    series: &[(&str, Vec<f64>)],
    value_label: &str,
) -> Result<String> {
    bars_with_intervals(title, labels, series, value_label, &[])
}

/// [`bars`] with an interval `(low, high)` per label drawn as a whisker across the first series' bar
/// (none where `intervals` is empty).
pub fn bars_with_intervals(
    title: &str,
    labels: &[String],
    series: &[(&str, Vec<f64>)],
    value_label: &str,
    intervals: &[(f64, f64)],
) -> Result<String> {
    // Headroom beyond the longest bar keeps the legend clear of the bars.
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .chain(intervals.iter().map(|i| i.1))
        .fold(0.0f64, f64::max)
        .max(1e-12)
        * 1.6;
    let groups = labels.len().max(1);
    let horizontal = groups > 6 || labels.iter().any(|l| l.len() > 12);
    let band = 0.8 / series.len().max(1) as f64;
    let label_of = |x: f64| {
        let i = x.floor() as usize;
        if (x - i as f64 - 0.5).abs() < 1e-6 {
            labels.get(i).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let longest = labels.iter().map(|l| l.len()).max().unwrap_or(0) as u32;
    let size = if horizontal {
        (
            WIDTH,
            60 + 26 * groups as u32 * series.len().max(1) as u32 / 2 + 80,
        )
    } else {
        (WIDTH, HEIGHT)
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut builder = ChartBuilder::on(&root);
        builder.caption(title, ("sans-serif", 16)).margin(10);
        if horizontal {
            builder
                .x_label_area_size(40)
                .y_label_area_size(20 + 7 * longest);
        } else {
            builder.x_label_area_size(40).y_label_area_size(60);
        }
        let (x_range, y_range) = if horizontal {
            (0f64..max, 0f64..groups as f64)
        } else {
            (0f64..groups as f64, 0f64..max)
        };
        let mut chart = builder.build_cartesian_2d(x_range, y_range).map_err(err)?;
        let (category, value) = (|v: &f64| label_of(*v), |v: &f64| tick(*v));
        let mut mesh = chart.configure_mesh();
        if horizontal {
            mesh.disable_y_mesh()
                .y_labels(groups * 2 + 1)
                .y_label_formatter(&category)
                .x_label_formatter(&value)
                .x_desc(value_label);
        } else {
            mesh.disable_x_mesh()
                .x_labels(groups * 2 + 1)
                .x_label_formatter(&category)
                .y_label_formatter(&value)
                .y_desc(value_label);
        }
        mesh.draw().map_err(err)?;
        for (s, (name, values)) in series.iter().enumerate() {
            let color = COLORS[s % COLORS.len()];
            chart
                .draw_series(values.iter().enumerate().map(|(i, v)| {
                    let start = i as f64 + 0.1 + s as f64 * band;
                    let end = start + band * 0.95;
                    let corners = if horizontal {
                        [(0.0, start), (*v, end)]
                    } else {
                        [(start, 0.0), (end, *v)]
                    };
                    Rectangle::new(corners, color.filled())
                }))
                .map_err(err)?
                .label(*name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
        }
        // The whiskers: the interval's line through the middle of the first series' bar.
        let middle = |i: usize| i as f64 + 0.1 + band * 0.475;
        chart
            .draw_series(intervals.iter().enumerate().map(|(i, &(low, high))| {
                let (a, b) = ((middle(i), low), (middle(i), high));
                let flip = |(x, y): (f64, f64)| if horizontal { (y, x) } else { (x, y) };
                PathElement::new(vec![flip(a), flip(b)], BLACK.stroke_width(2))
            }))
            .map_err(err)?;
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK)
                .draw()
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A readable tick: 250k, 1.2M, 0.25.
fn tick(y: f64) -> String {
    match y.abs() {
        0.0 => "0".into(),
        a if a >= 1e6 => format!("{:.1}M", y / 1e6),
        a if a >= 1e3 => format!("{:.0}k", y / 1e3),
        a if a >= 10.0 => format!("{y:.0}"),
        _ => format!("{y:.2}"),
    }
}

/// The span of `values` with 5% padding (0..1 when there are none).
fn padded(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
        (l.min(v), h.max(v))
    });
    if !low.is_finite() {
        return 0.0..1.0;
    }
    let pad = ((high - low) * 0.05).max(1e-9);
    (low - pad)..(high + pad)
}

/// Points with the y = x diagonal, on one range for both axes: predicted against measured.
pub fn scatter(title: &str, points: &[(f64, f64)], x_label: &str, y_label: &str) -> Result<String> {
    let range = padded(points.iter().flat_map(|&(x, y)| [x, y]));
    dots(
        title,
        points,
        (range.clone(), range),
        (420, 400),
        true,
        x_label,
        y_label,
    )
}

/// Points on free axes (no diagonal): one value against another, e.g. a proxy's weight on a domain
/// against its target loss.
pub fn points(title: &str, points: &[(f64, f64)], x_label: &str, y_label: &str) -> Result<String> {
    let ranges = (
        padded(points.iter().map(|p| p.0)),
        padded(points.iter().map(|p| p.1)),
    );
    dots(title, points, ranges, (320, 280), false, x_label, y_label)
}

type Ranges = (std::ops::Range<f64>, std::ops::Range<f64>);

fn dots(
    title: &str,
    points: &[(f64, f64)],
    (xs, ys): Ranges,
    size: (u32, u32),
    diagonal: bool,
    x_label: &str,
    y_label: &str,
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", if diagonal { 16 } else { 14 }))
            .margin(10)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(xs.clone(), ys)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .x_labels(6)
            .y_labels(6)
            .draw()
            .map_err(err)?;
        if diagonal {
            chart
                .draw_series(LineSeries::new(
                    [(xs.start, xs.start), (xs.end, xs.end)],
                    COLORS[2],
                ))
                .map_err(err)?;
        }
        chart
            .draw_series(
                points
                    .iter()
                    .map(|&p| Circle::new(p, 3, COLORS[0].mix(0.7).filled())),
            )
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A clustering's sample on two axes, one colour per cluster (`(x, y, cluster index)`), with a key to
/// the right naming the clusters (`names`).
pub fn cluster_map(title: &str, points: &[(f64, f64, usize)], names: &[String]) -> Result<String> {
    let xs = padded(points.iter().map(|p| p.0));
    let ys = padded(points.iter().map(|p| p.1));
    let height = 440.max(40 + 16 * names.len() as u32);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH + 260, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (plot, key) = root.split_horizontally(WIDTH);
        let mut chart = ChartBuilder::on(&plot)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(xs, ys)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("first principal component")
            .y_desc("second")
            .x_labels(5)
            .y_labels(5)
            .draw()
            .map_err(err)?;
        for (c, name) in names.iter().enumerate() {
            let color = Palette99::pick(c).to_rgba();
            chart
                .draw_series(
                    points
                        .iter()
                        .filter(|p| p.2 == c)
                        .map(|p| Circle::new((p.0, p.1), 2, color.mix(0.6).filled())),
                )
                .map_err(err)?;
            let y = 40 + 16 * c as i32;
            key.draw(&Circle::new((8, y), 4, color.filled()))
                .map_err(err)?;
            key.draw(&Text::new(name.as_str(), (18, y - 6), ("sans-serif", 11)))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Histograms on a log2 x axis, one outlined step line per series: `(series name, [(log2 of the bin's
/// start, share of the series in the bin)])`, bins one unit wide.
pub fn log_histograms(
    title: &str,
    series: &[(&str, Vec<(f64, f64)>)],
    x_label: &str,
    y_label: &str,
) -> Result<String> {
    let bins = series.iter().flat_map(|(_, b)| b.iter());
    let (low, high) = bins
        .clone()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), b| {
            (l.min(b.0), h.max(b.0 + 1.0))
        });
    let (low, high) = if low.is_finite() {
        (low, high)
    } else {
        (0.0, 1.0)
    };
    let top = bins.map(|b| b.1).fold(0.0f64, f64::max).max(1e-12) * 1.1;
    // Powers of two read best in binary units: 1k = 1024 bytes.
    let binary = |x: &f64| {
        let bytes = 2f64.powf(*x);
        if bytes >= 1048576.0 {
            format!("{:.0}M", bytes / 1048576.0)
        } else if bytes >= 1024.0 {
            format!("{:.0}k", bytes / 1024.0)
        } else {
            format!("{bytes:.0}")
        }
    };
    line_chart(
        title,
        (low..high, top),
        (x_label, y_label),
        Some(&binary),
        |chart| {
            for (i, (name, bins)) in series.iter().enumerate() {
                // A step outline: up at each bin's start, across, down at its end.
                let mut path = Vec::with_capacity(bins.len() * 4);
                for &(x, y) in bins {
                    path.extend([(x, 0.0), (x, y), (x + 1.0, y), (x + 1.0, 0.0)]);
                }
                line(chart, path, name, i)?;
            }
            Ok(())
        },
    )
}

/// One line per series over the x values `0..n` (a trajectory): `(series name, y per step)`.
pub fn lines(
    title: &str,
    series: &[(&str, Vec<f64>)],
    x_label: &str,
    y_label: &str,
) -> Result<String> {
    let steps = series
        .iter()
        .map(|(_, ys)| ys.len())
        .max()
        .unwrap_or(0)
        .max(2);
    let top = series
        .iter()
        .flat_map(|(_, ys)| ys.iter().copied())
        .fold(0.0f64, f64::max)
        .max(1e-12)
        * 1.1;
    let x = 0f64..(steps - 1) as f64;
    line_chart(title, (x, top), (x_label, y_label), None, |chart| {
        for (i, (name, ys)) in series.iter().enumerate() {
            let path = ys.iter().enumerate().map(|(x, &y)| (x as f64, y));
            line(chart, path, name, i)?;
        }
        Ok(())
    })
}

/// A line chart of the report's size: x over `x`, y from 0 to `top`, the axes labelled (x ticks by
/// `x_ticks` when given), the lines `draw` adds, and their legend.
fn line_chart(
    title: &str,
    (x, top): (std::ops::Range<f64>, f64),
    (x_label, y_label): (&str, &str),
    x_ticks: Option<&dyn Fn(&f64) -> String>,
    draw: impl FnOnce(&mut LineChart) -> Result<()>,
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(x, 0f64..top)
            .map_err(err)?;
        let y_ticks = |y: &f64| tick(*y);
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(x_label)
            .y_desc(y_label)
            .y_label_formatter(&y_ticks);
        if let Some(x_ticks) = x_ticks {
            mesh.x_label_formatter(x_ticks);
        }
        mesh.draw().map_err(err)?;
        draw(&mut chart)?;
        legend(&mut chart)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A chart on f64 axes, as every line chart here draws.
type LineChart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// Draws series `i` as a line labelled `name` in the legend.
fn line(
    chart: &mut LineChart,
    path: impl IntoIterator<Item = (f64, f64)>,
    name: &str,
    i: usize,
) -> Result<()> {
    let color = COLORS[i % COLORS.len()];
    chart
        .draw_series(LineSeries::new(path, color.stroke_width(2)))
        .map_err(err)?
        .label(name)
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
    Ok(())
}

/// The series legend, top right.
fn legend<'a, 'b: 'a>(chart: &mut LineChart<'a, 'b>) -> Result<()> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg() {
        let bars = bars(
            "t",
            &["a".into(), "b".into()],
            &[("x", vec![1.0, 2.0]), ("y", vec![0.5, 0.0])],
            "share",
        )
        .unwrap();
        assert!(
            bars.starts_with("<svg") && bars.contains("<rect"),
            "{}",
            &bars[..100.min(bars.len())]
        );
        let scatter = scatter("s", &[(1.0, 1.1), (2.0, 1.9)], "measured", "predicted").unwrap();
        assert!(scatter.contains("<circle"));
        let free = points("p", &[(0.1, 3.2), (0.4, 3.0)], "weight", "loss").unwrap();
        assert!(free.contains("<circle"));
        let map = cluster_map(
            "m",
            &[(0.0, 1.0, 0), (1.0, 0.0, 1)],
            &["a".into(), "b".into()],
        )
        .unwrap();
        assert_eq!(
            map.matches("<circle").count(),
            4,
            "two points and their key: {map}"
        );
        assert!(map.contains("\nb\n"), "the key names the clusters: {map}");
        let histogram = log_histograms(
            "h",
            &[("a", vec![(3.0, 0.5), (4.0, 0.5)])],
            "bytes",
            "share",
        )
        .unwrap();
        assert!(histogram.contains("<polyline") || histogram.contains("<path"));
    }
}
