//! End to end: every kind of bad input is one line on stderr and a non-zero exit code, 2 for
//! usage errors and 1 for runtime errors; CSV mistakes name the file, line and column.

mod common;

use common::{TempDir, backprop, sample};

#[test]
fn bad_flags_are_usage_errors() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["train", "--dataset", "spiral", "--bogus"],
            "error: unexpected argument '--bogus' found; see --help",
        ),
        (
            &["train", "--dataset", "moons"],
            "error: invalid value 'moons' for '--dataset <NAME>': unknown data set 'moons'; the data sets are: circle, xor, gauss, spiral, plane, multi-gauss; see --help",
        ),
        (
            &["train", "--dataset", "spiral", "--layers", "8,,8"],
            "error: invalid value '8,,8' for '--layers <SIZES>': layer 2 is empty; write sizes separated by commas, e.g. 8,8; see --help",
        ),
        (
            &["train", "--dataset", "spiral", "--layers", "8,0"],
            "error: invalid value '8,0' for '--layers <SIZES>': layer 2 has size 0; every hidden layer needs at least 1 unit; see --help",
        ),
        (
            &["train", "--dataset", "spiral", "--layers", "8,x"],
            "error: invalid value '8,x' for '--layers <SIZES>': layer 2 is 'x', not a positive whole number; write sizes separated by commas, e.g. 8,8; see --help",
        ),
        (
            &["train", "--dataset", "spiral", "--lr", "0"],
            "error: invalid value '0' for '--lr <RATE>': the learning rate must be a finite number > 0, got 0; see --help",
        ),
        (
            &["train", "--dataset", "spiral", "--lr", "-0.1"],
            "error: invalid value '-0.1' for '--lr <RATE>': the learning rate must be a finite number > 0, got -0.1; see --help",
        ),
        (
            &["train", "--dataset", "spiral", "--batch-size", "0"],
            "error: invalid value '0' for '--batch-size <N>': the batch size must be at least 1; see --help",
        ),
        (
            &["train", "--dataset", "spiral", "--batch-size", "251"],
            "error: --batch-size 251 is larger than the 250 training rows",
        ),
        (
            &["train", "--dataset", "spiral", "--epochs", "0"],
            "error: invalid value '0' for '--epochs <N>': the number of epochs must be at least 1; see --help",
        ),
        (
            &["train", "--dataset", "spiral", "--test-fraction", "1"],
            "error: invalid value '1' for '--test-fraction <F>': the test fraction must be in [0, 1) (0 means no test set), got 1; see --help",
        ),
        (
            &["train", "--dataset", "spiral", "--test-fraction", "-0.2"],
            "error: invalid value '-0.2' for '--test-fraction <F>': the test fraction must be in [0, 1) (0 means no test set), got -0.2; see --help",
        ),
        (
            &["train", "--dataset", "spiral", "--activation", "swish"],
            "error: invalid value 'swish' for '--activation <NAME>': unknown activation 'swish'; expected one of relu, tanh, sigmoid, leaky_relu, leaky_relu:<slope>, identity; see --help",
        ),
        (
            &["train", "--dataset", "spiral", "--loss", "huber"],
            "error: invalid value 'huber' for '--loss <NAME>': unknown loss 'huber'; expected one of mse, log, ce, hinge; see --help",
        ),
        (
            &["train", "--dataset", "spiral", "--optimizer", "lbfgs"],
            "error: invalid value 'lbfgs' for '--optimizer <NAME>': unknown optimizer 'lbfgs'; expected one of sgd, momentum, nesterov, adam, adamw, rmsprop, adagrad; see --help",
        ),
        (
            &["train", "--dataset", "spiral", "--features", "x1,cosx1"],
            "error: invalid value 'x1,cosx1' for '--features <LIST>': unknown feature 'cosx1'; the features are: x1, x2, x1sq, x2sq, x1x2, sinx1, sinx2; see --help",
        ),
        (
            &["train", "--dataset", "spiral", "--loss", "mse"],
            "error: --loss mse does not fit the target 'label', which holds 2 classes; use log, ce or hinge",
        ),
        (
            &["train", "--dataset", "plane", "--loss", "ce"],
            "error: --loss ce does not fit the target 'label', which holds numbers; use mse",
        ),
        (
            &["train", "--dataset", "spiral", "--plot", "out.jpg"],
            "error: --plot out.jpg: the picture is a PNG file; name it FILE.png",
        ),
        (
            &["train", "--dataset", "spiral", "--plot-size", "50x50"],
            "error: invalid value '50x50' for '--plot-size <WxH>': each side of the picture must be 200 to 8000 pixels, got 50x50; see --help",
        ),
        (
            &["train"],
            "error: the following required arguments were not provided: --dataset <NAME>; see --help",
        ),
        (
            &["train", "--dataset", "spiral", "--csv", "x.csv"],
            "error: the argument '--dataset <NAME>' cannot be used with '--csv <FILE>'; see --help",
        ),
        (&["frobnicate"], "error: unrecognized subcommand 'frobnicate'; see --help"),
    ];
    for (args, expected) in cases {
        let run = backprop(args);
        assert_eq!(run.error_line(2), *expected, "backprop {}", args.join(" "));
    }
    let iris = sample("iris.csv");
    let run = backprop(&["train", "--csv", &iris]);
    assert_eq!(run.error_line(2), "error: --csv needs --target COL, the column to predict");
    let run = backprop(&["train", "--csv", &iris, "--target", "species", "--loss", "mse"]);
    assert_eq!(
        run.error_line(2),
        "error: --loss mse does not fit the target 'species', which holds 3 classes; use log, ce or hinge"
    );
    let run = backprop(&["train", "--csv", &iris, "--target", "species", "--features", "x1,x2"]);
    assert_eq!(
        run.error_line(2),
        "error: --features chooses Playground input features; a CSV file's features are its columns"
    );
}

#[test]
fn csv_mistakes_name_the_file_line_and_column() {
    let dir = TempDir::new("csv");
    let cases = [
        ("ragged.csv", "a,b,y\n1,2,p\n3,q\n", "{}:3: the row has 2 fields, the header has 3"),
        ("word.csv", "a,b,y\n1,2,p\n3,oops,q\n", "{}:3: column 'b' (2): 'oops' is not a number"),
        ("empty_cell.csv", "a,b,y\n1,2,p\n3,,q\n", "{}:3: column 'b' (2): the cell is empty"),
        ("nan.csv", "a,b,y\n1,NaN,p\n3,4,q\n", "{}:2: column 'b' (2): 'NaN' is not a finite number"),
        ("empty.csv", "", "{}: the file is empty; expected a header row and data rows"),
        ("header_only.csv", "a,b,y\n", "{}: the file has a header row but no data rows"),
        (
            "one_class.csv",
            "a,b,y\n1,2,p\n3,4,p\n",
            "{}: column 'y' has only one class ('p'); classification needs at least 2 classes",
        ),
        ("no_target.csv", "a,b,c\n1,2,3\n", "{}: no column named 'y'; the columns are: a, b, c"),
        ("newline.csv", "a,b,y\n\"1\n2\",2,p\n3,4,q\n", "{}:2: column 'a' (1): '1\\n2' is not a number"),
    ];
    for (name, text, expected) in cases {
        let path = dir.write(name, text);
        let run = backprop(&["train", "--csv", &path, "--target", "y", "--epochs", "1"]);
        assert_eq!(run.error_line(1), format!("error: {}", expected.replace("{}", &path)), "{name}");
    }
    let missing = dir.arg("missing.csv");
    let run = backprop(&["train", "--csv", &missing, "--target", "y"]);
    assert_eq!(run.error_line(1), format!("error: {missing}: No such file or directory (os error 2)"));
}

#[test]
fn models_that_do_not_fit_the_data() {
    let dir = TempDir::new("fit");
    let model = dir.arg("iris.safetensors");
    let iris = sample("iris.csv");
    assert_eq!(
        backprop(&["train", "--csv", &iris, "--target", "species", "--epochs", "2", "--save", &model]).code,
        Some(0)
    );

    let wine = sample("wine.csv");
    fails_with(
        &["predict", "--model", &model, "--csv", &wine],
        format!(
            "error: {wine}: no column named 'sepal_length'; the columns are: alcohol, malic_acid, ash, alcalinity_of_ash, magnesium, total_phenols, flavanoids, nonflavanoid_phenols, proanthocyanins, color_intensity, hue, od280_od315_of_diluted_wines, proline, cultivar"
        ),
    );
    fails_with(
        &["eval", "--model", &model, "--dataset", "spiral"],
        format!(
            "error: {model}: the model's features [sepal_length, sepal_width, petal_length, petal_width] are not Playground features (x1, x2, x1sq, x2sq, x1x2, sinx1, sinx2); evaluate it with --csv"
        ),
    );
    let other =
        dir.write("other.csv", "sepal_length,sepal_width,petal_length,petal_width,species\n1,2,3,4,rose\n");
    fails_with(
        &["eval", "--model", &model, "--csv", &other, "--test-fraction", "0"],
        format!(
            "error: {other}:2: column 'species' (5): class 'rose' is not one of the model's classes [setosa, versicolor, virginica]"
        ),
    );
    let bad_cell =
        dir.write("cell.csv", "sepal_length,sepal_width,petal_length,petal_width\n1,2,3,4\n1,2,x,4\n");
    fails_with(
        &["predict", "--model", &model, "--csv", &bad_cell],
        format!("error: {bad_cell}:3: column 'petal_length' (3): 'x' is not a number"),
    );
    let missing = dir.arg("none.safetensors");
    fails_with(
        &["eval", "--model", &missing, "--csv", &iris],
        format!("error: {missing}: cannot read: No such file or directory (os error 2)"),
    );
    let not_a_model = dir.write("text.safetensors", "hello, this is plain text and not a model");
    let run = backprop(&["predict", "--model", &not_a_model, "--csv", &iris]);
    assert!(
        run.error_line(1).starts_with(&format!("error: {not_a_model}: not a safetensors file")),
        "{}",
        run.stderr
    );

    // The target column may be absent when predicting.
    let unlabelled =
        dir.write("new.csv", "petal_width,petal_length,sepal_width,sepal_length\n0.2,1.4,3.5,5.1\n");
    let run = backprop(&["predict", "--model", &model, "--csv", &unlabelled]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.starts_with(
        "petal_width,petal_length,sepal_width,sepal_length,prediction,p_setosa,p_versicolor,p_virginica\n"
    ));
}

#[test]
fn playground_url_errors_name_the_field() {
    let run = backprop(&["playground", "--url", "#batchSize=0&seed=1"]);
    assert_eq!(
        run.error_line(2),
        "error: hash field `batchSize`: invalid value `0`: expected positive integers"
    );
    let run = backprop(&["playground", "--url", "https://playground.tensorflow.org/#activation=swish"]);
    assert_eq!(
        run.error_line(2),
        "error: hash field `activation`: invalid value `swish`: expected one of relu, tanh, sigmoid, linear"
    );
    let run = backprop(&["playground", "--url", "dataset=spiral&percTrainData=100"]);
    assert!(
        run.error_line(2).starts_with("error: hash field `percTrainData`: invalid value `100`"),
        "{}",
        run.stderr
    );
}

/// Runs `args`, which must fail at run time (exit code 1) with the one line `expected`.
fn fails_with(args: &[&str], expected: String) {
    assert_eq!(backprop(args).error_line(1), expected);
}
