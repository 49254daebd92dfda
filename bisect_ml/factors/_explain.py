"""What `bisect-ml factors NAME` says about each factor, beyond the catalogue.

Each entry explains one registered factor in three parts:

- ``differs``: what the two frameworks do differently, concretely;
- ``matters``: the mechanism by which it changes training, and how large the
  effect typically is. Where it was measured here (the seed scenarios of the
  README), the figure is given; where it is small or was not measured, the
  text says so rather than repeating folklore;
- ``cases``: the public reports in /work/shared/PUBLIC_CASES.md it relates to
  (``R05``, ``N12``...), if any.

Where each default was read (installed file and lines), the allowed values and
the scope come from the `Factor` itself and are not repeated here.
``tests/test_explain.py`` requires one entry per registered factor: a new
factor needs its entry, inserted before the end marker.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CASES", "EXPLANATIONS", "Explanation"]

#: The public reports of /work/shared/PUBLIC_CASES.md an entry may cite: a
#: short title and the first address the document gives.
CASES: dict[str, str] = {
    "R02": "Adam epsilon placement, TF's 'epsilon hat' "
    "(github.com/pytorch/pytorch/issues/104857)",
    "R03": "RMSprop conventions (github.com/pytorch/pytorch/issues/23796)",
    "R04": "ResNet-18 benchmark, weight decay the factor that mattered "
    "(github.com/benchopt/benchmark_resnet_classif/issues/30)",
    "R05": "Ludwig TF to PyTorch, BatchNorm momentum copied literally "
    "(github.com/ludwig-ai/ludwig/issues/1613)",
    "R08": "stride-2 'same' padding asymmetric in TF "
    "(github.com/keras-team/keras/pull/16363)",
    "R10": "flatten order breaks weight transfer "
    "(henrysky.github.io/blog/2023-10-23-keras-torch)",
    "R12": "GRU gate order and reset_after (github.com/keras-team/keras/issues/8720)",
    "R14": "IMDB Embedding-Flatten-Dense, 66% vs 77%, suspected init "
    "(discuss.pytorch.org/t/135659)",
    "R15": "clipnorm per variable vs global "
    "(github.com/tensorflow/tensorflow/issues/29108)",
    "R16": "weight decay semantics (github.com/mlcommons/hpc/issues/22)",
    "R17": "LayerNorm epsilon in a PT/TF pair "
    "(github.com/huggingface/transformers/pull/15332)",
    "R18": "BatchNorm running variance, biased vs unbiased "
    "(github.com/pytorch/pytorch/issues/77427)",
    "R21": "validation_split takes the last rows "
    "(github.com/keras-team/keras/issues/597)",
    "N06": "dropout still active at prediction time "
    "(github.com/pytorch/pytorch/issues/1207)",
    "N07": "input scaling dropped at conversion "
    "(github.com/gmalivenko/pytorch2keras/issues/111)",
    "N08": "Adadelta defaults (github.com/tensorflow/tensorflow/issues/31024)",
    "N09": "BN scale and shift excluded from weight decay "
    "(github.com/Lyken17/SparseNet/issues/8)",
    "N10": "NCHW channel index used on NHWC tensors "
    "(github.com/AndreaCodegoni/Tiny_model_4_CD/issues/1)",
    "N12": "batched before shuffling (github.com/d2l-ai/d2l-en/pull/2700)",
    "N15": "RandAugment crops and warm-up stepping "
    "(github.com/ildoonet/pytorch-randaugment/issues/9)",
    "N16": "Keras 3 torch backend computes float64 in float32 "
    "(github.com/keras-team/keras/issues/23704)",
    "N17": "Keras 'accuracy' becomes binary accuracy "
    "(stackoverflow.com/questions/42081257)",
}


@dataclass(frozen=True)
class Explanation:
    """The explanation of one factor (see the module docstring)."""

    differs: str
    matters: str
    cases: tuple[str, ...] = ()


EXPLANATIONS: dict[str, Explanation] = {
    "init.dense.kernel": Explanation(
        differs="nn.Linear draws its weights from U(+-1/sqrt(fan_in)) "
        "(kaiming_uniform_ with a=sqrt(5)); Keras Dense uses Glorot uniform, "
        "U(+-sqrt(6/(fan_in+fan_out))).",
        matters="The two bounds set the scale of the signal at the first step. "
        "For a 64-to-64 layer torch's bound is 0.125 and Glorot's 0.217, so "
        "torch's activations shrink faster, layer after layer, in a deep "
        "ReLU stack, and its gradients start small. Measured here: on a "
        "deep, narrow ReLU MLP trained briefly (seed-init) it explained "
        "94% of a 0.13 error gap; on a one-hidden-layer digits MLP it moved "
        "the error by about one seed standard deviation, not significant at "
        "10 seeds.",
        cases=("R04", "R14"),
    ),
    "init.dense.bias": Explanation(
        differs="nn.Linear draws its bias from U(+-1/sqrt(fan_in)); Keras "
        "Dense starts every bias at zero.",
        matters="A random bias shifts each unit's pre-activation by a small "
        "constant at the start; training removes it within a few steps. It "
        "was ruled out on every seed scenario measured here: expect no "
        "effect unless layers are very narrow and training very short.",
    ),
    "init.conv.kernel": Explanation(
        differs="nn.Conv2d draws U(+-1/sqrt(fan_in)) with fan_in = "
        "in*kh*kw (kaiming_uniform_, a=sqrt(5)); Keras Conv2D uses Glorot "
        "uniform over the same fans.",
        matters="The ratio of the two bounds depends on the channel counts: "
        "for a 3x3 conv from 1 to 16 channels torch's weights are about 1.7 "
        "times larger than Glorot's, from 16 to 32 channels about 0.7 times. "
        "A deep stack therefore starts at a different signal scale; with "
        "BatchNorm after each conv the difference is largely normalised "
        "away. Not measured on its own here.",
        cases=("R04",),
    ),
    "init.conv.bias": Explanation(
        differs="nn.Conv2d draws its bias from U(+-1/sqrt(in*kh*kw)); Keras "
        "Conv2D starts it at zero.",
        matters="As for dense layers: a small constant offset per channel at "
        "the start, which training removes quickly and BatchNorm cancels "
        "outright. Expect no measurable effect in most models.",
    ),
    "init.embedding": Explanation(
        differs="nn.Embedding draws its vectors from N(0, 1); Keras Embedding "
        "from U(-0.05, 0.05), a standard deviation of about 0.029.",
        matters="torch's vectors are about 35 times larger. With Adam's step "
        "of about lr = 1e-3 per coordinate, a vector of size 1 barely moves "
        "relative to itself in a few epochs, so the embedding stays close to "
        "its random start, while Keras's small vectors are reshaped by "
        "training. A public IMDB model reached 66% in torch and 77% in Keras; "
        "that cause is a plausible diagnosis, not confirmed by the reporter.",
        cases=("R14",),
    ),
    "init.recurrent.kernel": Explanation(
        differs="torch initialises an LSTM's or GRU's input weights, like "
        "every RNN parameter, from U(+-1/sqrt(units)); Keras uses Glorot "
        "uniform on the whole (inputs, gates*units) kernel.",
        matters="The input-to-gate scale differs by a factor that depends on "
        "the input width and the number of units; the gates' initial "
        "saturation changes with it. The effect on the final error is "
        "usually small next to the recurrent initialisation; not measured "
        "on its own here.",
        cases=("R12",),
    ),
    "init.recurrent.recurrent_kernel": Explanation(
        differs="torch draws the recurrent weights from U(+-1/sqrt(units)); "
        "Keras makes the (units, gates*units) recurrent kernel orthogonal.",
        matters="An orthogonal matrix keeps every singular value at 1, so a "
        "fresh network passes its state from step to step without "
        "stretching or squashing it; a uniform random matrix does both, "
        "which shortens the memory of an untrained network and can make "
        "long sequences train more slowly. Size of effect: grows with "
        "sequence length; not measured on its own here.",
        cases=("R12",),
    ),
    "init.recurrent.bias": Explanation(
        differs="torch has two bias vectors per RNN layer (input and "
        "recurrent), each U(+-1/sqrt(units)); Keras has one LSTM bias of "
        "zeros with the forget gate's block at 1 (unit_forget_bias=True), "
        "and all-zero GRU biases.",
        matters="A forget-gate bias of 1 keeps an LSTM's cell state open "
        "from the first step, so gradients reach early time steps; torch's "
        "random biases leave the forget gate about half open. For GRUs the "
        "difference is only random against zero, and small.",
        cases=("R12",),
    ),
    "preprocess.scale": Explanation(
        differs="No library default: the idioms differ. torch tutorials use "
        "ToTensor() then Normalize((0.5,), (0.5,)), which maps uint8 pixels "
        "to [-1, 1]; Keras tutorials use Rescaling(1/255), [0, 1]. "
        "ToTensor divides only uint8 input by 255 and passes floats "
        "through.",
        matters="Input scale and centring set the size and sign balance of "
        "the first layer's pre-activations. Measured here (seed-preprocess, "
        "a sigmoid MLP on digits): [-1, 1] beat [0, 1], and the Keras side "
        "was the worse one, by 0.047 in error rate. On float features that "
        "are not images, 'symmetric' and 'unit' are both odd choices: "
        "standardise instead.",
        cases=("N07",),
    ),
    "preprocess.window": Explanation(
        differs="Not a default: a bug pattern. Windowing a series by hand, "
        "the target is easily taken one step too early (the window's own "
        "last value), too late, or unshifted; "
        "keras.utils.timeseries_dataset_from_array with targets=series[L:] "
        "predicts the next value.",
        matters="A window whose target is its own last value is trivially "
        "learnable: the training loss looks excellent and the model learns "
        "nothing useful about the future. Measured here (seed-window, "
        "sunspots): an off-by-one explained the whole gap of 0.44 in MSE "
        "over the series variance.",
    ),
    "layers.conv.padding_same": Explanation(
        differs="With padding 'same' and a stride of 2 on an even input, "
        "TensorFlow pads 0 pixels at the top/left and 1 at the bottom/right; "
        "torch code writes padding=k//2, which pads both sides (nn.Conv2d "
        "refuses padding='same' with a stride above 1).",
        matters="The output shape is the same, but every window is shifted "
        "by one pixel. Trained from scratch each side adapts to its own "
        "grid, so the effect on the error is usually small; with weights "
        "copied across, outputs of stride-2 layers differ grossly.",
        cases=("R08", "R04"),
    ),
    "layers.pool.padding_same": Explanation(
        differs="As for convolutions: a pooling layer padded 'same' puts "
        "TensorFlow's odd padding pixel at the bottom/right, while torch's "
        "padding=k//2 pads both sides.",
        matters="Windows shift by one pixel on even inputs (a ResNet stem's "
        "MaxPool2d(3, 2, padding=1) against MaxPooling2D(3, 2, 'same')). "
        "Small from scratch, large when weights are shared.",
        cases=("R08",),
    ),
    "layers.pool.count_include_pad": Explanation(
        differs="torch's AvgPool2d divides by the full window, padded zeros "
        "included (count_include_pad=True); TensorFlow's 'same' average "
        "pooling divides by the number of real inputs in the window.",
        matters="Border outputs are smaller in torch: a 3x3 corner window "
        "with 4 real inputs is divided by 9 instead of 4. Only border "
        "activations change, so the effect grows as feature maps get "
        "smaller; usually small on large images.",
    ),
    "layers.flatten.order": Explanation(
        differs="torch flattens (C, H, W) tensors channel first; Keras "
        "flattens (H, W, C) tensors channel last.",
        matters="The next dense layer sees a permutation of the same "
        "values. Trained from scratch this is harmless (the dense weights "
        "learn either order); with weights copied across frameworks it "
        "gives wrong outputs. Expect no effect in a bisection from each "
        "side's own initial weights.",
        cases=("R10",),
    ),
    "norm.batch.momentum": Explanation(
        differs="Both frameworks call 'momentum' opposite quantities. "
        "torch's momentum (default 0.1) is the weight of the NEW batch "
        "statistic: r <- (1 - m) r + m x. Keras's (default 0.99) is the "
        "weight of the OLD average: r <- m r + (1 - m) x. The factor's value "
        "is in torch's convention: Keras's default is 0.01 here.",
        matters="Only eval-mode outputs change (training normalises by the "
        "batch itself). Keras's default averages over about 100 batches, so "
        "after a few epochs its running statistics lag the weights; torch's "
        "over about 10. A value copied literally across is the real trap: "
        "TF's 0.95 given to torch means 0.95 on the new batch, so the "
        "running statistics are essentially those of the last training "
        "batch, and eval-mode accuracy becomes noisy.",
        cases=("R05", "R04"),
    ),
    "norm.batch.epsilon": Explanation(
        differs="torch's BatchNorm adds 1e-5 to the variance, Keras's "
        "BatchNormalization 1e-3.",
        matters="It matters only for channels whose batch variance is not "
        "far above epsilon (dead units, nearly constant pixels): Keras "
        "divides them by at least sqrt(1e-3) ~ 0.03, torch by 0.003, so "
        "torch amplifies their noise up to 10 times more. Usually a small "
        "effect.",
    ),
    "norm.batch.running_variance": Explanation(
        differs="Both normalise a training batch by its biased variance, but "
        "torch feeds the unbiased one (times n/(n-1), n values per channel) "
        "into its running average; Keras the biased one.",
        matters="Eval-mode outputs differ in scale by sqrt(n/(n-1)): about "
        "3% at a dense batch of 16, negligible on conv maps where n = "
        "batch*height*width is large. A small effect on the error in most "
        "models; it makes eval-mode unit tests across frameworks fail.",
        cases=("R18", "R04"),
    ),
    "norm.layer.epsilon": Explanation(
        differs="torch's LayerNorm adds 1e-5 to the variance, Keras's "
        "LayerNormalization 1e-3.",
        matters="As for BatchNorm, it matters only when the features of a "
        "sample have a spread near epsilon. A public PT/TF model pair "
        "differed in logits by up to 1e-3 until it was aligned: a "
        "deterministic difference, usually too small to change the error "
        "after training.",
        cases=("R17",),
    ),
    "loss.softmax_output": Explanation(
        differs="nn.CrossEntropyLoss expects logits and applies "
        "log_softmax itself; a model ending in nn.Softmax therefore gets "
        "softmax twice. Keras's cross-entropy finds the logits behind a "
        "Keras softmax and uses them (with from_logits=False silently, with "
        "True after a warning), so the same model trains correctly there.",
        matters="The second softmax sees inputs in [0, 1] only, so it can "
        "never be confident: with 10 classes the loss cannot fall below "
        "-log(e / (e + 9)) = 1.46, and its gradients shrink by a large "
        "factor: training is slow or stalls. One of the "
        "largest effects in the catalogue when present; `bisect-ml diff` "
        "warns about it.",
    ),
    "loss.target_shape": Explanation(
        differs="With an (N, 1) prediction and an (N,) target, torch's "
        "nn.MSELoss broadcasts them to an (N, N) matrix and only warns; "
        "Keras first brings both to the same rank.",
        matters="The broadcast loss compares every prediction with every "
        "target of the batch, so its minimum is the batch mean: the model "
        "learns to predict a constant. A large effect on any regression; "
        "`bisect-ml diff` warns about it.",
    ),
    "optimizer.learning_rate": Explanation(
        differs="Both Adams default to 1e-3; the factor exists for pairs "
        "whose sides set different rates.",
        matters="The step size: usually the strongest single knob of a "
        "training. A difference here is a plain configuration difference, "
        "not a hidden default.",
    ),
    "optimizer.beta_1": Explanation(
        differs="Both default to 0.9; the factor exists for pairs whose "
        "sides set different values.",
        matters="Decay of the gradient average (momentum): lower values "
        "follow the latest gradients more closely. Moderate effects.",
    ),
    "optimizer.beta_2": Explanation(
        differs="Both default to 0.999; the factor exists for pairs whose "
        "sides set different values (a port that copied 0.98 or 0.95 on one "
        "side only).",
        matters="Decay of the squared-gradient average: a lower beta_2 "
        "adapts each coordinate's step size faster and noisier. Measured "
        "here (seed-adam): 0.95 against 0.999 explained a 0.044 error gap "
        "with torch's initialisation, and did not matter with Glorot's "
        "(seed-adam-noise).",
    ),
    "optimizer.epsilon": Explanation(
        differs="torch's Adam uses eps = 1e-8, Keras's 1e-7.",
        matters="Epsilon only matters where sqrt(v) is near it: tiny "
        "gradients, or the first steps. It was ruled out on every digits "
        "pair measured here, whose gradients are far above both values.",
        cases=("R02",),
    ),
    "optimizer.epsilon_placement": Explanation(
        differs="torch adds epsilon to the bias-corrected sqrt(v_hat); "
        "Keras adds it to the raw sqrt(v) and folds the correction into the "
        "step ('epsilon hat'). Keras's epsilon thus acts like torch's "
        "epsilon / sqrt(1 - beta_2^t): about 32 times larger at the first "
        "step, converging as t grows.",
        matters="Visible only when epsilon is large or gradients tiny: a "
        "PPO port with lr = eps = 1e-5 was much less stable in torch. With "
        "default epsilons on the digits pairs measured here it was ruled "
        "out.",
        cases=("R02",),
    ),
    "optimizer.weight_decay": Explanation(
        differs="Both default to no decay (torch 0, Keras None); the factor "
        "exists for pairs whose sides set different coefficients.",
        matters="How strongly weights are pulled toward zero. What a "
        "coefficient does differs between the frameworks; see "
        "optimizer.weight_decay_mode.",
        cases=("R16",),
    ),
    "optimizer.weight_decay_mode": Explanation(
        differs="torch's Adam(weight_decay) adds lambda*theta to the gradient "
        "(L2), which then goes through Adam's moments; any Keras optimizer "
        "with weight_decay shrinks theta by lr*lambda*theta directly "
        "(decoupled), on every trainable variable, as torch's AdamW does.",
        matters="Adam divides the L2 term by sqrt(v) like the gradient, so "
        "it decays weights with small gradients far more and weights with "
        "large gradients far less than the decoupled step. The same "
        "coefficient can give clearly different regularisation; a public "
        "ResNet benchmark traced its accuracy gap to weight decay applied "
        "differently.",
        cases=("R16", "R04", "N09"),
    ),
    "optimizer.adamw.weight_decay": Explanation(
        differs="torch's AdamW defaults to weight_decay = 0.01, Keras's to 0.004.",
        matters="Both decay the same way (decoupled), but torch's 'AdamW "
        "with defaults' decays 2.5 times harder. A small effect over short "
        "trainings; it accumulates over long ones.",
        cases=("R16",),
    ),
    "train.batch_size": Explanation(
        differs="An unset batch size means 1 sample per step for torch's "
        "DataLoader and 32 for Keras's fit.",
        matters="Batch size sets the gradient noise and the number of steps "
        "per epoch: batch 1 takes 32 times more, much noisier steps at the "
        "same learning rate. A large effect whenever one side forgot to set "
        "it; `bisect-ml diff` warns when the torch side leaves it at 1.",
    ),
    "train.shuffle": Explanation(
        differs="DataLoader does not shuffle unless told; with "
        "shuffle=True it draws a new order every epoch. Keras's fit "
        "shuffles by default, but under keras.utils.set_random_seed "
        "(Keras 3.15.1) it replays the same permutation in every epoch.",
        matters="A fixed order every epoch, or one repeated permutation, "
        "gives the same sequence of batches each epoch; with class-sorted "
        "data and no shuffling, batches hold one class. On the digits pairs "
        "measured here the difference was ruled out each time.",
        cases=("N12",),
    ),
    "train.drop_last": Explanation(
        differs="DataLoader keeps the last, incomplete batch unless "
        "drop_last=True; Keras's fit always keeps it and has no option to "
        "drop it.",
        matters="The last batch of an epoch can be tiny (one sample) yet "
        "takes a full-size step: a noisy update once per epoch. torch code "
        "often sets drop_last=True because BatchNorm refuses a training "
        "batch of one sample. Usually a small effect on the error.",
    ),
    "train.clip_norm": Explanation(
        differs="Neither framework clips by default (0 here); the factor "
        "exists for pairs whose sides set different thresholds.",
        matters="Clipping caps the step size on large gradients; it matters "
        "on unscaled targets or early in training. See train.clip_scope for "
        "what the same threshold means in each framework.",
        cases=("R15",),
    ),
    "train.clip_scope": Explanation(
        differs="torch's clip_grad_norm_ (and Keras's global_clipnorm) scale "
        "all gradients by one factor computed from their joint norm; Keras's "
        "clipnorm, the option people reach for, clips each variable's "
        "gradient by its own norm.",
        matters="Per-variable clipping changes the update's direction, and "
        "clips small variables (biases) less than a global norm would. The "
        "effect appears whenever gradients exceed the threshold, typically "
        "with unscaled regression targets.",
        cases=("R15",),
    ),
    "init.values": Explanation(
        differs="Not a framework difference but a diagnostic: 'own' starts a "
        "side from its own framework's draws; 'transplanted' starts it from "
        "the weights the other framework's default initialisers draw for the "
        "same model at the same seed, copied across with every layout "
        "conversion (kernel transposes, OIHW/HWIO, GRU gate order, LSTM/GRU "
        "biases, flatten order).",
        matters="Separates the initial weights from what training does with "
        "them in one swap. With every other factor swapped as well, a "
        "transplanted side tracks the other framework's loss step for step "
        "(measured within 2e-6 relative over 30 Adam steps for dense, CNN, "
        "BatchNorm, LayerNorm, LSTM and GRU models, tests/test_closure.py; "
        "not embeddings, whose sparse gradient Keras's Adam squares per "
        "token occurrence, a difference no factor covers yet). A "
        "transplanted side ignores its init.* values.",
        cases=("R10", "R14"),
    ),
    "layers.gru.reset_after": Explanation(
        differs="torch's nn.GRU always applies the reset gate to the "
        "recurrent product plus its bias, r * (W_hn h + b_hn), with two "
        "biases; Keras's GRU does the same by default (reset_after=True, a "
        "(2, 3u) bias), but reset_after=False, the Keras 1 / TF 1 default, "
        "computes W_hn (r * h) with one bias.",
        matters="A different function of the same-shaped kernels: torch "
        "GRU(16) weights copied into a classic Keras GRU, gates reordered, "
        "moved the logits by 0.08 to 0.12, a fifth of their size. Trained "
        "from scratch the two forms learned alike on the gru-reset-after "
        "scenario (gap 0.028 [-0.020, 0.076] in error rate, not significant "
        "at 10 seeds).",
        cases=("R12",),
    ),
    "layers.lstm.bias": Explanation(
        differs="nn.LSTM holds two bias vectors (bias_ih, bias_hh) that are "
        "always summed and both trained; Keras's LSTM holds one.",
        matters="The same function, but each bias gets the full gradient: "
        "under Adam, whose step size ignores the gradient's scale, the "
        "summed bias moves about twice as far per step as Keras's. The "
        "closure check needs this factor for LSTMs: without it the loss "
        "curves part within 30 steps. Its effect on the final error was not "
        "measured here and is expected to be small.",
    ),
    "eval.dropout": Explanation(
        differs="Both frameworks switch dropout off at prediction when used "
        "as intended (model.eval() in torch; Keras's predict and "
        "model(x, training=False)); a torch script that forgets model.eval() "
        "keeps dropping at prediction time.",
        matters="Predictions are made by a randomly thinned network. On "
        "the dropout-at-predict scenario (diabetes MLP with two dropout 0.5 "
        "layers) it raised torch's test MSE from 0.48 to 0.55 of the target "
        "variance and explained 104% [80%, 144%] of the gap, with a seed "
        "spread 4.5 times Keras's.",
        cases=("N06",),
    ),
    "eval.batch_norm": Explanation(
        differs="Both frameworks normalise by the running (moving) "
        "statistics at prediction when used as intended (model.eval() in "
        "torch; Keras's predict and model(x, training=False)); a torch "
        "script that forgets model.eval() normalises each evaluated batch by "
        "its own mean and variance, and folds them into the running "
        "statistics as a side effect.",
        matters="The outputs then depend on the batch a sample is "
        "evaluated in. bisect-ml evaluates the whole test set as one batch, "
        "whose statistics are close to the running ones: on the "
        "bn-train-at-predict scenario (digits MLP, two BatchNorm layers, "
        "449 test rows) the gap was 0.0002 [-0.005, 0.006] in error rate, "
        "not significant at 10 seeds. The same trained models evaluated in "
        "batches of 8 erred 0.085 to 0.103 against about 0.02, so a small "
        "test batch size makes the mistake large.",
        cases=("N06",),
    ),
    "optimizer.sgd.learning_rate": Explanation(
        differs="torch.optim.SGD's lr defaults to 1e-3 (torch 2.x; it had no "
        "default before), keras.optimizers.SGD's learning_rate to 0.01.",
        matters="A 'default SGD' takes ten times larger steps in Keras: on a "
        "short budget the Keras side trains further, on a long one the torch "
        "side may merely be slower. Ports usually copy the number they see, "
        "so the difference appears when one side leaves it unset.",
    ),
    "optimizer.sgd.momentum": Explanation(
        differs="Both default to 0. torch keeps the learning rate out of its "
        "buffer (buf = mu*buf + g; p -= lr*buf), Keras folds it in (v = mu*v "
        "- lr*g; p += v).",
        matters="The coefficient matters as in any SGD; the two forms take "
        "identical steps at a constant learning rate and part only when it "
        "changes (a decay acts at once in torch, gradually in Keras; "
        "tests/test_optimizers.py shows both). The spec has no schedule, so "
        "only the coefficient is a factor here.",
        cases=("R16",),
    ),
    "optimizer.sgd.nesterov": Explanation(
        differs="Both default to False; torch writes Nesterov as p -= lr*(g + "
        "mu*buf), Keras as p += mu*v - lr*g.",
        matters="Identical steps at a constant learning rate (tested); as a "
        "factor it matters only when one side turns Nesterov on.",
    ),
    "optimizer.rmsprop.learning_rate": Explanation(
        differs="torch.optim.RMSprop's lr defaults to 1e-2, Keras's RMSprop to 1e-3.",
        matters="Ten times larger steps in a 'default' torch RMSprop, which "
        "on small MLPs often trains faster at first and noisier later.",
        cases=("R03",),
    ),
    "optimizer.rmsprop.rho": Explanation(
        differs="torch's alpha is 0.99, Keras's rho 0.9: the squared-gradient "
        "average spans about 100 steps in torch and 10 in Keras.",
        matters="With a short memory the step size follows recent gradients: "
        "larger steps whenever gradients shrink, and a larger first steps "
        "(v starts at zero in both, so sqrt(v) after one step is 0.32|g| in "
        "Keras against 0.1|g| in torch). See the rmsprop-conventions "
        "scenario for what was measured here.",
        cases=("R03",),
    ),
    "optimizer.rmsprop.epsilon": Explanation(
        differs="torch's eps is 1e-8, Keras's epsilon 1e-7.",
        matters="At these sizes negligible unless gradients are tiny; the "
        "placement (next factor) matters more, because it decides whether "
        "eps or sqrt(eps) is the floor of the denominator.",
        cases=("R03",),
    ),
    "optimizer.rmsprop.epsilon_placement": Explanation(
        differs="torch divides by sqrt(v) + eps, Keras by sqrt(v + eps) (the "
        "centred variants likewise).",
        matters="Keras's floor is sqrt(eps): 0.03 at eps = 1e-3 against "
        "torch's 0.001, so parameters with small gradients take steps up to "
        "30 times smaller in Keras (tests/test_optimizers.py). Large epsilons "
        "are common in Inception/EfficientNet recipes; at the default 1e-7 "
        "the floor is 3e-4 and matters only for very small gradients.",
        cases=("R03",),
    ),
    "optimizer.rmsprop.momentum": Explanation(
        differs="Both default to 0; Keras folds the learning rate into the "
        "momentum buffer, torch does not.",
        matters="The forms take the same steps at a constant learning rate "
        "(tested); the coefficient matters when the sides set different "
        "ones.",
        cases=("R03",),
    ),
    "optimizer.rmsprop.centered": Explanation(
        differs="Both default to False; when on, both divide by the "
        "gradient's running variance instead of its second moment.",
        matters="Larger steps where the gradient has a steady sign; a factor "
        "only when one side turns it on.",
    ),
    "optimizer.adadelta.learning_rate": Explanation(
        differs="torch's Adadelta multiplies its step by lr = 1.0, Keras's "
        "by 0.001 (tf.keras 2.0 changed it from standalone Keras's 1.0).",
        matters="Adadelta's own step starts near sqrt(eps/(1-rho)) and grows "
        "slowly; at 0.001 times that, a 'default' Keras Adadelta barely "
        "moves in a typical budget. See the adadelta-defaults scenario for "
        "what was measured here.",
        cases=("N08",),
    ),
    "optimizer.adadelta.rho": Explanation(
        differs="torch's rho is 0.9, Keras's 0.95.",
        matters="A slightly longer memory of past gradients and steps in "
        "Keras; the first steps are about 1.4 times smaller at 0.95 for the "
        "same eps. Small next to the learning rate.",
        cases=("N08",),
    ),
    "optimizer.adadelta.epsilon": Explanation(
        differs="torch's eps is 1e-6, Keras's 1e-7; both put it under the "
        "square root of both running averages.",
        matters="Epsilon seeds Adadelta's step size: the first step is about "
        "lr*sqrt(eps/(1-rho)), so a tenfold epsilon means a 3.2 times larger "
        "start (with the learning rate and rho, torch's first step is about "
        "2200 times Keras's, tests/test_optimizers.py).",
        cases=("N08",),
    ),
    "optimizer.sparse_moments": Explanation(
        differs="torch's nn.Embedding gives Adam a dense gradient, a repeated "
        "token's occurrences already summed, and Adam squares that sum. "
        "Keras gives Adam a tf.IndexedSlices with one slice per occurrence, "
        "and Adam's ops.square squares each slice before the repeats are "
        "added into the second moment. The first moment is the same sum in "
        "both.",
        matters="Only embedding tables, only tokens that repeat within a "
        "batch: the Keras second moment is larger by the cross terms the "
        "sum would cancel, so frequent tokens take smaller Keras steps. With "
        "every other factor swapped, a digits embedding model (tokens 0-16, "
        "each repeated many times per batch) tracks the other framework step "
        "for step only with this factor swapped (tests/test_closure.py); its "
        "effect on a test error was not measured here.",
        cases=("R14",),
    ),
    "train.validation_rows": Explanation(
        differs="Keras's fit(validation_split=v) holds out the last v of the "
        "arrays as given, before it shuffles anything; a PyTorch port "
        "usually holds out a random v with torch.utils.data.random_split. "
        "The held-out rows are not trained on either way; the test set is "
        "not touched.",
        matters="On arrays stored in a meaningful order (sklearn's load_wine "
        "and load_iris are sorted by class, time series by date) the Keras "
        "tail is no sample of the data: of load_wine's 134 training rows in "
        "file order, v = 0.2 holds out the last 27, all of class 2, so the "
        "model trains on 5 of class 2's 32 rows. A small dense net then "
        "misclassified most class-2 test rows: test error 0.286 against "
        "0.009 with a random split, the factor closing 98% of that gap "
        "(the validation-split scenario, 10 seeds).",
        cases=("R21",),
    ),
    # -- end of explanations --
}
