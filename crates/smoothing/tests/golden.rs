//! Golden values of the whole docs/method.md §4 computation, M = 3 (rgb, nir, swir), canonical order.
//!
//! The docs/method.md §4.1 table is compared at its printed precision (6 decimals, tolerance 1e-6). The other
//! vectors come from the docs/method.md §4 formulas in numpy float64 (numpy 2.4.6, `np.linalg.solve`,
//! i.e. the same LAPACK LU as ours), printed with 12 decimals; the tolerance 1e-9 leaves room
//! for BLAS summation order and nothing else. The script:
//!
//! ```python
//! import numpy as np
//! def smooth(D, sigma=1.0, lam=1e-3, tau=0.5, gamma=0.5, X=None, neg=False):
//!     D = np.asarray(D, float); S = len(D)
//!     X = D[:, None] if X is None else X
//!     if sigma == 'median':
//!         d = [np.linalg.norm(X[i]-X[j]) for i in range(S) for j in range(i+1, S)]
//!         sigma = np.median(d) if len(d) and np.median(d) > 0 else 1.0
//!     K = np.exp(-((X[:, None, :]-X[None, :, :])**2).sum(-1)/(2*sigma**2))
//!     r = K @ np.linalg.solve(K+lam*np.eye(S), D)
//!     z = (r-r.mean())/r.std() if r.std() >= 1e-12 else np.zeros(S)
//!     z = -z if neg else z
//!     a = tau*z; s = np.exp(a-a.max()); s /= s.sum()
//!     p = (1-gamma)/S + gamma*s; return sigma, r, z, s, p/p.sum()
//! D = [0.8,1.2,1.5,0.3,0.4,0.6,0.0]
//! masks = np.array([[1,0,0],[0,1,0],[0,0,1],[1,1,0],[1,0,1],[0,1,1],[1,1,1]], float)
//! # smooth(D, X=masks); smooth(D, sigma='median'); smooth(D, neg=True);
//! # smooth(D, sigma=0.5, lam=1e-2, tau=2.0, gamma=0.8), each printed with '%.12f'
//! ```

use lssg_core::{Descriptor, Preference};
use lssg_scenario::ModalitySet;
use lssg_smoothing::{Sigma, Smoothed, SmoothingConfig, smooth};

const D: [f64; 7] = [0.8, 1.2, 1.5, 0.3, 0.4, 0.6, 0.0];

fn rns() -> ModalitySet {
    ModalitySet::from_names(["rgb", "nir", "swir"], 3).unwrap()
}

/// Panics with the label, the index of the largest difference, got and expected.
fn assert_close(label: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{label}: length");
    let (index, diff) = got
        .iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs())
        .enumerate()
        .fold((0, 0.0), |best, (i, d)| if d > best.1 || d.is_nan() { (i, d) } else { best });
    assert!(
        diff <= tol,
        "{label}: largest difference {diff:e} > {tol:e} at index {index}: got {}, expected {}\n got  {got:?}\n want {want:?}",
        got[index],
        want[index]
    );
}

/// numpy's r and z of the defaults (σ 1, λ 1e-3, τ 0.5, γ 0.5).
const SPEC_R: [f64; 7] =
    [0.800637594892, 1.210222024213, 1.491151057547, 0.297274268708, 0.397044707860, 0.597801679586, 0.004599711318];
const SPEC_Z: [f64; 7] = [
    0.237593953248,
    1.083040559201,
    1.662922216662,
    -0.801427028061,
    -0.595485168174,
    -0.181091240533,
    -1.405553292343,
];

/// numpy's σ, r, z, softmax and p for one configuration.
struct Want {
    sigma: f64,
    r: [f64; 7],
    z: [f64; 7],
    s: [f64; 7],
    p: [f64; 7],
}

/// Smooths [`D`] under `config` and checks every vector against numpy's; returns the output.
fn check(label: &str, config: &SmoothingConfig, want: Want) -> Smoothed {
    const TOL: f64 = 1e-9;
    let out = smooth(&D, &rns(), config).unwrap();
    assert!((out.sigma - want.sigma).abs() < 1e-15, "{label}: sigma {} != {}", out.sigma, want.sigma);
    assert_close(&format!("{label} r"), &out.scores, &want.r, TOL);
    assert_close(&format!("{label} z"), &out.normalized, &want.z, TOL);
    assert_close(&format!("{label} softmax"), &out.softmax, &want.s, TOL);
    assert_close(&format!("{label} p"), &out.probabilities, &want.p, TOL);
    out
}

#[test]
fn spec_table() {
    // docs/method.md §4.1 test vector, defaults (σ 1, λ 1e-3, τ 0.5, γ 0.5), 6 printed decimals.
    let out = smooth(&D, &rns(), &SmoothingConfig::default()).unwrap();
    let r = [0.800638, 1.210222, 1.491151, 0.297274, 0.397045, 0.597802, 0.004600];
    let z = [0.237594, 1.083041, 1.662922, -0.801427, -0.595485, -0.181091, -1.405553];
    let p = [0.142145, 0.179349, 0.215648, 0.113491, 0.118053, 0.128788, 0.102525];
    assert_close("spec r", &out.scores, &r, 1e-6);
    assert_close("spec z", &out.normalized, &z, 1e-6);
    assert_close("spec p", &out.probabilities, &p, 1e-6);
    assert_eq!(out.utility, D.to_vec());
    assert_eq!(out.descriptors.dim(), (7, 1));
    assert_eq!(out.kernel.dim(), (7, 7));
}

#[test]
fn spec_vector_full_precision() {
    check(
        "spec",
        &SmoothingConfig::default(),
        Want {
            sigma: 1.0,
            r: SPEC_R,
            z: SPEC_Z,
            s: [
                0.141432277912,
                0.215841491827,
                0.288439434902,
                0.084125565538,
                0.093249755867,
                0.114718167643,
                0.062193306312,
            ],
            p: [
                0.142144710384,
                0.179349317342,
                0.215648288879,
                0.113491354197,
                0.118053449362,
                0.128787655250,
                0.102525224585,
            ],
        },
    );
}

#[test]
fn mask_descriptor() {
    let out = check(
        "masks",
        &SmoothingConfig { descriptor: Descriptor::Masks, ..Default::default() },
        Want {
            sigma: 1.0,
            r: [
                0.799066816877,
                1.198371244234,
                1.497774046337,
                0.301077109112,
                0.401280808029,
                0.601386132201,
                -0.000509004477,
            ],
            z: [
                0.234502208466,
                1.058964390500,
                1.677155100685,
                -0.793720002368,
                -0.586824825163,
                -0.173658176110,
                -1.416418696010,
            ],
            s: [
                0.141202736336,
                0.213242026447,
                0.290476637139,
                0.084443747161,
                0.093647074262,
                0.115136284778,
                0.061851493878,
            ],
            p: [
                0.142029939596,
                0.178049584652,
                0.216666889998,
                0.113650445009,
                0.118252108560,
                0.128996713818,
                0.102354318367,
            ],
        },
    );
    assert_eq!(out.descriptors.dim(), (7, 3));
}

#[test]
fn median_sigma() {
    // numpy prints 0.6 for the median of the 21 pairwise |D_i − D_j|; rounding in the
    // subtraction makes it 0.6000000000000001 or 0.6 depending on the pair.
    check(
        "median",
        &SmoothingConfig { sigma: Sigma::Median, ..Default::default() },
        Want {
            sigma: 0.6,
            r: [
                0.794146781202,
                1.204910260486,
                1.495944437476,
                0.296520245910,
                0.401843522158,
                0.603903269008,
                0.001146084325,
            ],
            z: [
                0.224134381650,
                1.071429446300,
                1.671755021100,
                -0.802335907594,
                -0.585082191871,
                -0.168287041121,
                -1.411613708463,
            ],
            s: [
                0.140473084350,
                0.214575880763,
                0.289694297285,
                0.084081011385,
                0.093728997511,
                0.115446265573,
                0.062000463133,
            ],
            p: [
                0.141665113604,
                0.178716511810,
                0.216275720071,
                0.113469077121,
                0.118293070184,
                0.129151704215,
                0.102428802995,
            ],
        },
    );
}

#[test]
fn faithful_first() {
    check(
        "faithful",
        &SmoothingConfig { preference: Preference::FaithfulFirst, ..Default::default() },
        Want {
            sigma: 1.0,
            r: SPEC_R,
            // Faithful-first ranks by −z: the same r, z negated.
            z: SPEC_Z.map(|z| -z),
            s: [
                0.112988638286,
                0.074036925689,
                0.055402412283,
                0.189957005208,
                0.171370319872,
                0.139299997719,
                0.256944700943,
            ],
            p: [
                0.127922890572,
                0.108447034273,
                0.099129777570,
                0.166407074032,
                0.157113731365,
                0.141078570288,
                0.199900921900,
            ],
        },
    );
}

#[test]
fn tuned_parameters() {
    check(
        "tuned",
        &SmoothingConfig { sigma: Sigma::Fixed(0.5), lambda: 1e-2, tau: 2.0, gamma: 0.8, ..Default::default() },
        Want {
            sigma: 0.5,
            r: [
                0.787281547789,
                1.214754865906,
                1.477025749941,
                0.294471810403,
                0.402125126426,
                0.603677146776,
                0.004205621962,
            ],
            z: [
                0.215947595320,
                1.104258174889,
                1.649269971242,
                -0.808135276944,
                -0.584426391510,
                -0.165591380243,
                -1.411322692754,
            ],
            s: [
                0.039489262418,
                0.233375782904,
                0.694139916702,
                0.005092979653,
                0.007966783407,
                0.018411046658,
                0.001524228257,
            ],
            p: [
                0.060162838506,
                0.215272054895,
                0.583883361933,
                0.032645812294,
                0.034944855297,
                0.043300265898,
                0.029790811177,
            ],
        },
    );
}
