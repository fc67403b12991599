//! Pictures with plotters: what the Playground shows, a heat map of the model's output over
//! the input plane with the data points on it, and the training and test loss curves.
//!
//! Text is drawn with the DejaVu Sans font shipped in `assets/` (rendered in pure Rust by
//! `ab_glyph`; no system font library is used). The PNG is drawn and encoded in memory and
//! written with the atomic-write helper, so an interrupted run never leaves half a picture.

use std::path::Path;
use std::sync::Once;

use backprop_nn::safetensors_file::write_atomic;
use image::ImageEncoder;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::args::PlotSize;
use crate::error::{CliError, Result};
use crate::report::EpochRecord;

/// The font, DejaVu Sans (license in `assets/DejaVuSans-LICENSE.txt`).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
/// The family name the font is registered under.
pub const FAMILY: &str = "sans-serif";

/// Registers the shipped font with plotters (once).
fn register_font() -> Result<()> {
    static REGISTER: Once = Once::new();
    let mut failed = false;
    REGISTER.call_once(|| {
        failed = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_err();
    });
    if failed { Err(CliError::Runtime("the plot font (DejaVu Sans) cannot be read".into())) } else { Ok(()) }
}

/// A data point on the heat map.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlotPoint {
    /// Its position in the plane.
    pub xy: [f64; 2],
    /// Its fill colour (its class or value).
    pub fill: [u8; 3],
    /// Whether it is a test point (black outline) rather than a training point (white).
    pub test: bool,
}

/// Colours of a batch of points of the plane (the model's output, coloured).
pub type Colouring<'a> = dyn Fn(&[[f64; 2]]) -> Result<Vec<[u8; 3]>> + 'a;

/// The heat map panel: the plane's window, the colour of each pixel, and the points.
pub struct HeatMap<'a> {
    /// The horizontal range.
    pub x_range: [f64; 2],
    /// The vertical range.
    pub y_range: [f64; 2],
    /// The horizontal axis's name.
    pub x_label: String,
    /// The vertical axis's name.
    pub y_label: String,
    /// The colours of pixel centres.
    pub colour: &'a Colouring<'a>,
    /// The points, drawn in order (training points first, so test points stay visible).
    pub points: Vec<PlotPoint>,
}

/// A whole picture: a title, an optional heat map, and the loss curves.
pub struct Figure<'a> {
    /// The line on top.
    pub title: String,
    /// The heat map, when the inputs are a plane.
    pub heat_map: Option<HeatMap<'a>>,
    /// The loss per epoch.
    pub history: &'a [EpochRecord],
    /// The loss's name, for the axis.
    pub loss_name: String,
}

/// Checks a `--plot` path before a long run: it must end in `.png` and its directory exist.
///
/// # Errors
/// A usage error naming the problem.
pub fn check_plot_path(path: &Path) -> Result<()> {
    let png = path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if !png {
        return Err(CliError::usage(format!(
            "--plot {}: the picture is a PNG file; name it FILE.png",
            path.display()
        )));
    }
    crate::outputs::check_parent(path)
}

/// Draws `figure` into the PNG file `path` of `size` pixels.
///
/// # Errors
/// When the file cannot be written or the colouring fails.
pub fn draw(path: &Path, size: PlotSize, figure: &Figure) -> Result<()> {
    draw_picture(path, size, &figure.title, |body, plot_err| match &figure.heat_map {
        Some(map) => {
            let (_, body_height) = body.dim_in_pixel();
            let (top, bottom) = body.split_vertically((body_height as f64 * 0.68) as u32);
            draw_heat_map(&top, map).map_err(|e| match e {
                DrawError::Cli(e) => e,
                DrawError::Plot(m) => plot_err(&m),
            })?;
            draw_losses(&bottom, figure).map_err(|e| plot_err(&e))
        }
        None => draw_losses(body, figure).map_err(|e| plot_err(&e)),
    })
}

/// A drawing area of the picture being drawn.
pub type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Turns a plotters message into the command's error about the picture.
pub type PlotErr<'a> = dyn Fn(&dyn std::fmt::Display) -> CliError + 'a;

/// Draws a picture into the PNG file `path` of `size` pixels: `title` on top, `body` below it
/// (given the area under the title and the error maker). The picture is drawn and encoded in
/// memory, then written by the one atomic-write helper, so that a failure leaves no half
/// picture and a link, FIFO or device named as the output is not replaced.
///
/// # Errors
/// When the file cannot be written or `body` fails.
pub fn draw_picture(
    path: &Path,
    size: PlotSize,
    title: &str,
    body: impl FnOnce(&Area<'_>, &PlotErr<'_>) -> Result<()>,
) -> Result<()> {
    register_font()?;
    let mut pixels = vec![0_u8; size.width as usize * size.height as usize * 3];
    draw_to(&mut pixels, path, size, title, body)?;
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&pixels, size.width, size.height, image::ColorType::Rgb8)
        .map_err(|e| CliError::file(path, format!("cannot encode the picture: {e}")))?;
    write_atomic(path, &png).map_err(|e| CliError::Nn(e.into()))
}

fn draw_to(
    pixels: &mut [u8],
    path: &Path,
    size: PlotSize,
    title: &str,
    body_of: impl FnOnce(&Area<'_>, &PlotErr<'_>) -> Result<()>,
) -> Result<()> {
    let plot_err = |e: &dyn std::fmt::Display| CliError::file(path, format!("cannot draw the picture: {e}"));
    let root = BitMapBackend::with_buffer(pixels, (size.width, size.height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(&e))?;
    let title_height = (size.height / 20).clamp(24, 60);
    let (title_area, body) = root.split_vertically(title_height);
    let title_font = (FAMILY, (title_height as f64 * 0.5).max(12.0)).into_font().color(&BLACK);
    title_area
        .draw_text(title, &title_font, (10, (title_height as i32 - title_font_height(title_height)) / 2))
        .map_err(|e| plot_err(&e))?;
    body_of(&body, &plot_err)?;
    root.present().map_err(|e| plot_err(&e))?;
    Ok(())
}

/// A tick label: at most 3 decimals, without trailing zeros (`6`, `-2.5`, `0.125`).
fn tick(v: f64) -> String {
    let text = format!("{v:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0".to_string() } else { text.to_string() }
}

fn title_font_height(title_height: u32) -> i32 {
    (title_height as f64 * 0.5) as i32
}

/// A drawing failure: the colouring's own error, or plotters'.
enum DrawError {
    Cli(CliError),
    Plot(String),
}

impl<E: std::fmt::Display> From<E> for DrawError {
    fn from(e: E) -> Self {
        DrawError::Plot(e.to_string())
    }
}

/// A plotters colour.
pub fn rgb(c: [u8; 3]) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

fn draw_heat_map(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    map: &HeatMap,
) -> std::result::Result<(), DrawError> {
    // A square panel, centred: the plane is not stretched.
    let (w, h) = area.dim_in_pixel();
    let side = w.min(h);
    let area = area.margin(0, h - side, (w - side) / 2, (w - side) / 2);
    let label_size = (side / 14).clamp(30, 60);
    let font_size = (side as f64 / 40.0).clamp(11.0, 24.0);
    let [x0, x1] = map.x_range;
    let [y0, y1] = map.y_range;
    let mut chart = ChartBuilder::on(&area)
        .margin(8)
        .x_label_area_size(label_size)
        .y_label_area_size(label_size)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(map.x_label.as_str())
        .y_desc(map.y_label.as_str())
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .label_style((FAMILY, font_size))
        .axis_desc_style((FAMILY, font_size))
        .draw()?;

    let pixels = chart.plotting_area().strip_coord_spec();
    let (pw, ph) = pixels.dim_in_pixel();
    let mut centres = Vec::with_capacity((pw * ph) as usize);
    for py in 0..ph {
        let y = y1 - (f64::from(py) + 0.5) / f64::from(ph) * (y1 - y0);
        for px in 0..pw {
            centres.push([x0 + (f64::from(px) + 0.5) / f64::from(pw) * (x1 - x0), y]);
        }
    }
    let colours = (map.colour)(&centres).map_err(DrawError::Cli)?;
    for (i, c) in colours.iter().enumerate() {
        let (px, py) = ((i as u32 % pw) as i32, (i as u32 / pw) as i32);
        pixels.draw_pixel((px, py), &rgb(*c))?;
    }

    // The page's points: radius 3 of a 260-pixel plot, fill at 0.9 opacity, outlined.
    let radius = ((f64::from(side) / 260.0 * 3.0).round() as i32).max(2);
    let (train_stroke, test_stroke) =
        (backprop_playground::heatmap::TRAIN_STROKE, backprop_playground::heatmap::TEST_STROKE);
    for p in &map.points {
        let (stroke, opacity, _) = if p.test { test_stroke } else { train_stroke };
        let centre = (p.xy[0], p.xy[1]);
        chart.draw_series(std::iter::once(Circle::new(centre, radius, rgb(p.fill).mix(0.9).filled())))?;
        chart.draw_series(std::iter::once(Circle::new(
            centre,
            radius,
            rgb(stroke).mix(opacity).stroke_width(1),
        )))?;
    }
    Ok(())
}

/// The loss curves of a run, training and test.
fn draw_losses(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    figure: &Figure,
) -> std::result::Result<(), String> {
    let history = figure.history;
    let losses = history.iter().flat_map(|r| std::iter::once(r.train_loss).chain(r.test_loss));
    let top = losses.filter(|v| v.is_finite()).fold(0.0_f64, f64::max);
    let top = if top > 0.0 { top * 1.05 } else { 1.0 };
    draw_curves(
        area,
        history,
        &format!("loss ({})", figure.loss_name),
        top,
        [|r: &EpochRecord| Some(r.train_loss), |r: &EpochRecord| r.test_loss],
    )
}

/// Two curves over the epochs of `history` (training, dark; test, orange), from 0 to `top`:
/// `of` picks each curve's value of a record (non-finite and missing values are left out).
pub fn draw_curves(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    history: &[EpochRecord],
    y_desc: &str,
    top: f64,
    of: [fn(&EpochRecord) -> Option<f64>; 2],
) -> std::result::Result<(), String> {
    let (w, h) = area.dim_in_pixel();
    let font_size = (f64::from(w.min(h * 3)) / 45.0).clamp(11.0, 24.0);
    let last_epoch = history.last().map_or(1, |r| r.epoch.max(1)) as f64;
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .margin_right((font_size * 2.0) as u32)
        .x_label_area_size((font_size * 3.0) as u32)
        .y_label_area_size((font_size * 4.5) as u32)
        .build_cartesian_2d(0.0..last_epoch, 0.0..top)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .light_line_style(RGBColor(246, 246, 246))
        .bold_line_style(RGBColor(225, 225, 225))
        .x_desc("epoch")
        .x_label_formatter(&|v| tick(*v))
        .y_desc(y_desc)
        .label_style((FAMILY, font_size))
        .axis_desc_style((FAMILY, font_size))
        .draw()
        .map_err(|e| err(&e))?;
    let curve = |pick: fn(&EpochRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        history
            .iter()
            .filter_map(|r| pick(r).filter(|v| v.is_finite()).map(|v| (r.epoch as f64, v)))
            .collect()
    };
    let (train, test) = (curve(of[0]), curve(of[1]));
    let dark = RGBColor(40, 40, 40);
    chart
        .draw_series(LineSeries::new(train, dark.stroke_width(2)))
        .map_err(|e| err(&e))?
        .label("train")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], dark.stroke_width(2)));
    if !test.is_empty() {
        let orange = rgb(backprop_playground::heatmap::ORANGE);
        chart
            .draw_series(LineSeries::new(test, orange.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label("test")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], orange.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FAMILY, font_size))
        .background_style(WHITE.mix(0.8))
        .border_style(RGBColor(200, 200, 200))
        .draw()
        .map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_size(path: &Path) -> (u32, u32) {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&bytes[12..16], b"IHDR");
        let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
        (be(16), be(20))
    }

    #[test]
    fn draws_a_png_of_the_asked_size() {
        let dir = crate::data_source::test_dir("plot");
        let history: Vec<EpochRecord> = (0..=5)
            .map(|e| EpochRecord {
                epoch: e,
                train_loss: 1.0 / (e + 1) as f64,
                test_loss: Some(1.2 / (e + 1) as f64),
                train_accuracy: None,
                test_accuracy: None,
                seconds: None,
            })
            .collect();
        let colour = |xy: &[[f64; 2]]| -> Result<Vec<[u8; 3]>> {
            Ok(xy.iter().map(|p| backprop_playground::color((p[0] * p[1]).tanh())).collect())
        };
        let figure = Figure {
            title: "xor".into(),
            heat_map: Some(HeatMap {
                x_range: [-6.0, 6.0],
                y_range: [-6.0, 6.0],
                x_label: "x1".into(),
                y_label: "x2".into(),
                colour: &colour,
                points: vec![PlotPoint { xy: [1.0, 2.0], fill: [8, 119, 189], test: false }],
            }),
            history: &history,
            loss_name: "mse".into(),
        };
        let path = dir.join("p.png");
        draw(&path, PlotSize { width: 400, height: 300 }, &figure).unwrap();
        assert_eq!(png_size(&path), (400, 300));
        let curves = Figure { heat_map: None, ..figure };
        draw(&path, PlotSize { width: 640, height: 480 }, &curves).unwrap();
        assert_eq!(png_size(&path), (640, 480));
        let leftovers: Vec<_> =
            std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left: {leftovers:?}");
        assert!(check_plot_path(Path::new("a.jpg")).is_err());
        assert_eq!(
            [tick(6.0), tick(-2.5), tick(0.125), tick(-0.0001), tick(300.0)],
            ["6", "-2.5", "0.125", "0", "300"]
        );
        assert!(check_plot_path(&dir.join("missing").join("a.png")).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
