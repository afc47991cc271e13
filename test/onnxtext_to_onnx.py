"""Turns a textual ONNX model (onnx.parser syntax) into a binary .onnx file.

Lit tests keep their models readable in this syntax: `// RUN:` and `// CHECK`
lines are comments to lit and are dropped before parsing.
"""
import argparse

import onnx
import onnx.parser


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("input")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    with open(args.input) as f:
        text = "".join(line for line in f if not line.lstrip().startswith("//"))
    model = onnx.parser.parse_model(text)
    onnx.save(model, args.output)


if __name__ == "__main__":
    main()
