"""The methods' names, importable without torch (the app's controls list them before it loads)."""

METHODS = ("gradcam", "gradcam++", "cam", "guided-gradcam", "guided-backprop", "gradient", "integrated-gradients",
           "occlusion")
CAM_FAMILY = ("cam", "gradcam", "gradcam++", "guided-gradcam")
LAYER_METHODS = ("gradcam", "gradcam++", "guided-gradcam")  # the layer is the user's choice
BASELINES = ("zero", "blur", "black")
