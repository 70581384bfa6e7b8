// Behavioural model of the analog part of the macro: NTiles crossbar tiles of Rows x Cols
// differential ci pairs (G+, G-), the memristor device, the read path and the ADCs,
// plus the result buffers OUTBUF, SATBUF and READBUF.  Bit-exact to
// docs/arithmetic.md §1-§3 (integer arithmetic only).
//
// This module models analog hardware: it is not meant for synthesis.  It is written for
// simulation speed (Icarus) and lint cleanliness:
// * A command is evaluated completely on its accept edge (cmd_start_i): VMM and READ_ROW
//   write the buffers, PULSE writes the cells.  Buffers and the debug backdoor are locked
//   while BUSY (cim_regfile), so evaluating early is unobservable (§4).
// * Loop temporaries are block-local blocking variables.  The cells, their lane chunks
//   and the buffers are memories written with blocking assignments, on edges on which
//   nothing reads them (the comments at the write paths say why that is race free).
// * A VMM multiplies whole lane chunks, not cells: every weight w = G+ - G- is kept, as well
//   as in the cells, in two derived copies of LaneChunk lanes of 32 bits per vector, one
//   with the lanes along a row (for FWD: the outputs are columns) and one along a column
//   (TRANS), updated whenever a cell is written.  A VMM then costs one wide multiply-add
//   per input line and chunk instead of one per cell: Icarus's cost is per statement, not
//   per bit, and this cut a LeNet-5 training image's array time several-fold.  The
//   result is the same integer sum (see "Lane chunks" below).
// * Noise is skipped when its sigma is 0 (it is identically 0 then), and the hash prefix
//   mix32(mix32(seed ^ key) ^ a) is computed once per op (READ, ADC) or per ci (PULSE,
//   D2D).  A VMM's read noise is output-referred (§3): one draw per output line, not two
//   per cell, which makes a noisy VMM about as cheap as a noise-free one.
//
// Cell index: cell = ((tile * ROWS + row) * COLS + col) * 2 + pol, pol 0 = G+, 1 = G-;
// a pair index is cell >> 1.  The cells and write counters power up as GINIT / 0 and are
// not reset by rst_ni (memristors keep their state); the buffers and SAT_COUNT are reset
// (asynchronous, active low), like the other digital registers.
`include "cim_reg_pkg.svh"
module cim_array import cim_reg_pkg::*; #(
  parameter int NTiles = 8,
  parameter int Rows   = 256,
  parameter int Cols   = 64,
  // derived, do not override
  localparam int NumPairs = NTiles * Rows * Cols,
  localparam int PairBits = $clog2(NumPairs)
) (
  input  logic                                clk_i,
  input  logic                                rst_ni,
  // command, sampled on the accept edge
  input  logic                                cmd_start_i,
  input  logic [CMD_OPCODE_WIDTH-1:0]         cmd_opcode_i,
  input  logic                                cmd_signed_i,
  input  logic                                cmd_pol_i,
  input  logic [31:0]                         op_index_i,
  input  cim_cfg_t                            cfg_i,       // the config registers' fields
  input  logic [COL_MASK_BITS-1:0]            dead_cols_i, // TILE's dead columns (PULSE)
  // INBUF write port (one word on the edge) and buffer read port (combinational)
  input  logic                                inbuf_we_i,
  input  logic [$clog2(INBUF_WORDS)-1:0]      inbuf_wword_i,
  input  logic [31:0]                         inbuf_wdata_i,
  input  logic [$clog2(INBUF_WORDS)-1:0]      buf_word_i,
  output logic [31:0]                         inbuf_word_o,
  output logic [31:0]                         outbuf_word_o,
  output logic [31:0]                         satbuf_word_o,
  output logic [31:0]                         readbuf_word_o,
  output logic [SAT_COUNT_VALUE_WIDTH-1:0]    sat_count_o,
  // debug backdoor (combinational read, write on the edge)
  input  logic [PairBits-1:0]                 dbg_pair_i,
  input  logic                                dbg_we_i,
  input  logic [GCODE_BITS-1:0]               dbg_gp_i,
  input  logic [GCODE_BITS-1:0]               dbg_gn_i,
  output logic [GCODE_BITS-1:0]               dbg_gp_o,
  output logic [GCODE_BITS-1:0]               dbg_gn_o,
  output logic [WC_BITS-1:0]                  dbg_wcp_o,
  output logic [WC_BITS-1:0]                  dbg_wcn_o
);
  `include "cim_func.svh"

  localparam integer NumCells    = 2 * NumPairs;
  localparam integer InLines     = 4 * INBUF_WORDS;   // byte k of word w is line 4w+k
  localparam integer SatWordBits = $clog2(SATBUF_WORDS);
  localparam integer WcMax       = (1 << WC_BITS) - 1;
  localparam integer Q88One      = 256;    // 1.0 in Q8.8 (step multipliers)
  localparam integer StepAShift  = 4;      // a = (od * w * k) >> 4         (§2)
  localparam integer StepAMax    = 65535;  // a is Q0.16, at most 65535     (§2)
  localparam integer StepShift   = 24;     // step = (span*a*f + 2**23) >> 24 (§2)
  localparam integer AdcMin      = -128;   // int8 output code range        (§3)
  localparam integer AdcMax      = 127;
  localparam integer ReadbufGnLsb = 16;    // READBUF word: {G- [31:16], G+ [15:0]}
  localparam integer ReadNoiseShift = 32;  // VMM read noise: (z * s443 * q + 2**31) >> 32 (§3)
  // sigma * 443 of the device-to-device draws (cim_s443 of the spec's sigmas)
  localparam signed [63:0] SD2dGmin = 64'(D2D_GMIN_SIGMA) * 64'(NOISE_MUL);
  localparam signed [63:0] SD2dGmax = 64'(D2D_GMAX_SIGMA) * 64'(NOISE_MUL);
  localparam signed [63:0] SD2dStep = 64'(D2D_STEP_SIGMA) * 64'(NOISE_MUL);
  // Lane chunks: LaneChunk weights of LaneBits bits in one vector (16 x 32 = 512 bits:
  // Icarus multiplies wider vectors in time growing with the square of the width).
  localparam integer LaneBits   = 32;
  localparam integer LaneChunk  = 16;
  localparam integer ChunkBits  = LaneBits * LaneChunk;
  localparam integer ColChunks  = (Cols + LaneChunk - 1) / LaneChunk;  // chunks of a row
  localparam integer RowChunks  = (Rows + LaneChunk - 1) / LaneChunk;  // chunks of a column
  localparam integer MaxOut     = (Rows > Cols) ? Rows : Cols;          // output lines of a VMM

  // ---------------------------------------------------------------- parameter checks
  initial begin
    if (Cols > COL_MASK_BITS || Cols > READBUF_WORDS || Cols > 4 * OUTBUF_WORDS
        || Rows > InLines || Rows > 4 * OUTBUF_WORDS || Rows > 32 * SATBUF_WORDS
        || NTiles > (1 << TILE_TILE_WIDTH)) begin
      $fatal(1, "cim_array: NTiles=%0d Rows=%0d Cols=%0d exceed the register map",
             NTiles, Rows, Cols);
    end
  end

  // ---------------------------------------------------------------- state
  reg [GCODE_BITS-1:0] g_mem  [0:NumCells-1];   // conductance codes
  reg [WC_BITS-1:0]    wc_mem [0:NumCells-1];   // write counters (saturating)

  // Lane chunks (derived from g_mem, never written on their own).  A chunk holds the
  // weights w_0..w_15 of 16 consecutive pairs as the integer sum of w_k * 2**(32k) modulo
  // 2**512 (each w_k signed, |w_k| <= GCODE_MAX).  Adding x * chunk keeps that form, so
  // after a VMM's inputs chunk k reads sum_i x_i * w_k,i: with |sum| < 2**31 (at most 256
  // inputs of |x| <= 255 times |w| <= 1023: < 2**26), lane k is its 32 bits plus the
  // borrow of the lanes below it (bit 32k-1), see lane().
  // wrow_mem[(tile * Rows + row) * ColChunks + col / 16], lane col % 16;
  // wcol_mem[(tile * Cols + col) * RowChunks + row / 16], lane row % 16.
  reg [ChunkBits-1:0] wrow_mem [0:NTiles*Rows*ColChunks-1];
  reg [ChunkBits-1:0] wcol_mem [0:NTiles*Cols*RowChunks-1];

  // The buffers are word memories, as the bus sees them.  INBUF lives here, next to the
  // DACs it drives.  Why words: in Icarus a change of part of a 2048-bit vector copies
  // and re-sends the whole vector to every reader (through ports, into the read-port
  // part-selects); an INBUF write cost twice a register write, and a READ_ROW's 128
  // half-word updates of READBUF each re-ran the read ports.
  reg [31:0] inbuf_mem   [0:INBUF_WORDS-1];    // input codes: line j = byte j%4 of word j/4
  reg [31:0] outbuf_mem  [0:OUTBUF_WORDS-1];   // int8 codes: output line j, the same way
  reg [31:0] satbuf_mem  [0:SATBUF_WORDS-1];   // bit j%32 of word j/32: line j saturated
  reg [31:0] readbuf_mem [0:READBUF_WORDS-1];  // word c = {G- read, G+ read} of column c
  reg [SAT_COUNT_VALUE_WIDTH-1:0] sat_count_q;

  initial begin : power_up
    integer i;
    for (i = 0; i < NumCells; i = i + 1) begin
      g_mem[i]  = GCODE_BITS'(GINIT);
      wc_mem[i] = '0;
    end
    for (i = 0; i < NTiles * Rows * ColChunks; i = i + 1) wrow_mem[i] = '0;  // w = 0
    for (i = 0; i < NTiles * Cols * RowChunks; i = i + 1) wcol_mem[i] = '0;
  end

  // The signed lane k of a chunk (above): its 32 bits, plus 1 if the lanes below it
  // hold a negative sum (their borrow was taken from lane k).
  function integer lane(input [ChunkBits-1:0] v, input integer k);
    begin
      lane = $signed(v[LaneBits * k +: LaneBits]) + ((k > 0) ? 32'(v[LaneBits * k - 1]) : 0);
    end
  endfunction

  // Column masks; bits at c >= Cols are never looked at (the PULSE loop stops at Cols).
  wire [COL_MASK_BITS-1:0] set_mask   = {cfg_i.pulse_set_mask_hi, cfg_i.pulse_set_mask_lo};
  wire [COL_MASK_BITS-1:0] reset_mask = {cfg_i.pulse_reset_mask_hi, cfg_i.pulse_reset_mask_lo};

  wire is_vmm   = (cmd_opcode_i == OP_VMM_FWD) || (cmd_opcode_i == OP_VMM_TRANS);
  wire is_trans = (cmd_opcode_i == OP_VMM_TRANS);
  wire is_read  = (cmd_opcode_i == OP_READ_ROW);
  wire is_pulse = (cmd_opcode_i == OP_PULSE);

  // ---------------------------------------------------------------- PULSE and backdoor
  // One phase of a PULSE on one cell (docs/arithmetic.md §2): cnt pulses of overdrive od
  // (amplitude minus the phase's threshold, mV), width wdt, gain k and the cell's step
  // multiplier f; SET moves g up towards gmax, RESET down towards gmin.  Returns
  // {g, wc}.  Pulse noise (when noisy) is keyed by pre (the cell's PULSE hash prefix) and
  // the write count.  Static, like cim_func.svh: Icarus calls it faster, nothing recurses.
  function [63:0] pulse_phase(input is_set, input integer g_in, input integer wc_in,
                              input integer od, input integer k, input integer f,
                              input integer gmin, input integer gmax, input stuck,
                              input integer cnt, input integer wdt, input noisy,
                              input [31:0] pre, input signed [63:0] s_pulse);
    integer g, wc, a, i, span, step, n;
    reg signed [63:0] p, pn;
    reg [31:0] hv;
    begin
      g = g_in;
      wc = wc_in;
      a = (od * wdt * k) >>> StepAShift;
      a = (a > StepAMax) ? StepAMax : a;
      for (i = 0; i < cnt; i = i + 1) begin
        if (od > 0 && !stuck) begin
          span = is_set ? gmax - g : g - gmin;
          p    = 64'(span) * 64'(a) * 64'(f);
          p    = (p + (64'sd1 <<< (StepShift - 1))) >>> StepShift;
          step = p[31:0];
          n    = 0;
          if (noisy) begin  // cim_noise_s443(cim_mix32(pre ^ wc), s_pulse), inline
            hv = pre ^ wc;
            `CIM_MIX32(hv)
            `CIM_NOISE_S443(pn, hv, s_pulse)
            n = pn[31:0];
          end
          g    = is_set ? g + step + n : g - step + n;
          g    = (g < gmin) ? gmin : (g > gmax) ? gmax : g;
        end
        wc = (wc < WcMax) ? wc + 1 : WcMax;  // every pulse counts
      end
      pulse_phase = {32'(g), 32'(wc)};
    end
  endfunction

  // The cells are written with blocking assignments: Verilator does not support
  // non-blocking writes to an array inside a loop (BLKLOOPINIT).  This is race free
  // because nothing reads the cells on an edge that writes them: one bus access per
  // edge, and the backdoor (the only reader besides commands) is locked while BUSY.
  /* verilator lint_off BLKSEQ */  // in-place updates of the cell and buffer memories
  // Keep the lane chunks equal to the cells: add delta to the weight of pair
  // (tile, row, col) in both copies (the chunk holds sum w_k * 2**(32k): adding
  // delta * 2**(32k) modulo 2**512 changes lane k alone).
  task add_weight(input integer tile, input integer row, input integer col,
                  input integer delta);
    reg signed [ChunkBits-1:0] d;
    begin
      d = ChunkBits'(delta);  // sign-extended
      wrow_mem[(tile * Rows + row) * ColChunks + col / LaneChunk]
        = wrow_mem[(tile * Rows + row) * ColChunks + col / LaneChunk]
          + (d <<< (LaneBits * (col % LaneChunk)));
      wcol_mem[(tile * Cols + col) * RowChunks + row / LaneChunk]
        = wcol_mem[(tile * Cols + col) * RowChunks + row / LaneChunk]
          + (d <<< (LaneBits * (row % LaneChunk)));
    end
  endtask

  // ---------------------------------------------------------------- the clocked process
  // INBUF writes, VMM and READ_ROW, PULSE and the backdoor in one process: in Icarus each
  // process the clock wakes costs about as much per edge as a few statements, whether it
  // does anything or not, and the three processes this was made of were a fifth of the
  // simulator's work in an idle cycle.  (The cells are not reset: the array is
  // non-volatile; the buffers are.)
  // The buffers, like the cells, are written with blocking assignments (BLKSEQ above).
  // Race free: one bus access per edge, so no edge both writes a buffer and reads it
  // (INBUF is written on its own access's edge and read on a CMD edge; OUTBUF, SATBUF and
  // READBUF are written on a CMD edge and locked while BUSY).
  // (The clocked block is unnamed and declares nothing: in Icarus a named block with
  // variables costs about 2,800 host instructions every time it is entered, here every
  // edge; rtl_bench --instructions.  The reset loop's index lives outside it.)
  // The edges with nothing to do (most of a run) read one net: in Icarus every signal a
  // process reads costs about 500 host instructions (a dynamic_cast per load).  The
  // three actions exclude each other: one bus access per edge.
  wire act = inbuf_we_i | cmd_start_i | dbg_we_i;
  integer rst_i;
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      for (rst_i = 0; rst_i < INBUF_WORDS; rst_i = rst_i + 1) inbuf_mem[rst_i] = '0;
      for (rst_i = 0; rst_i < OUTBUF_WORDS; rst_i = rst_i + 1) outbuf_mem[rst_i] = '0;
      for (rst_i = 0; rst_i < SATBUF_WORDS; rst_i = rst_i + 1) satbuf_mem[rst_i] = '0;
      for (rst_i = 0; rst_i < READBUF_WORDS; rst_i = rst_i + 1) readbuf_mem[rst_i] = '0;
      sat_count_q <= '0;
    end else if (act) begin  // (an INBUF write, a command or a backdoor write)
      if (inbuf_we_i) begin
        inbuf_mem[inbuf_wword_i] = inbuf_wdata_i;
      end else if (cmd_start_i && (is_vmm || is_read)) begin : read_path
        integer x [0:InLines-1];  // input code of every line
        integer tile, rs, rc, cs, cc, r, c, j, pol;
        integer iout [0:MaxOut-1];  // I of every output line of the window
        integer n_in, n_out, in0, out0, ch, k, wi;
        integer ci, xv, acc, nsat, v;
        reg [ChunkBits-1:0] accv;
        reg [31:0] xa;  // |x| of a negative input
        integer ow_i, sw_i;            // the OUTBUF and SATBUF words being written
        integer k0, k1;                // the lanes of a chunk inside the window
        reg [31:0] ow, sw, w32;
        reg [31:0] pre_read, pre_adc;
        reg [63:0] sum_x2, q;
        reg signed [63:0] s_read, s_adc, y, n_read, pn;
        reg signed [63:0] gain, rnd, offs;  // the ADC's gain, rounding and offset
        reg [5:0] shift;
        reg [31:0] hv;               // a hash being mixed
        reg noisy, adc_noisy;
        tile     = 32'(cfg_i.tile);
        rs       = 32'(cfg_i.row_start);
        rc       = 32'(cfg_i.row_count);
        cs       = 32'(cfg_i.col_start);
        cc       = 32'(cfg_i.col_count);
        noisy    = (cfg_i.noise_read_sigma != '0);
        s_read   = cim_s443(cfg_i.noise_read_sigma);
        s_adc    = cim_s443(cfg_i.noise_adc_sigma);
        pre_read = cim_hash_prefix(cfg_i.seed, STREAM_READ, op_index_i);
        pre_adc  = cim_hash_prefix(cfg_i.seed, STREAM_ADC, op_index_i);
        if (is_vmm) begin
          // FWD: output line = column, inputs run over the rows; TRANS: output line = row,
          // inputs run over the columns.
          if (is_trans) begin
            n_out = rc;  out0 = rs;  n_in = cc;  in0 = cs;
          end else begin
            n_out = cc;  out0 = cs;  n_in = rc;  in0 = rs;
          end
          // Input codes of the window's lines: uint8, or int8 with CMD.SIGNED.  The
          // bit-serial, two-phase input integrates to exactly x * W, so the current is
          // computed once.
          // Whole words, four lines a turn with constant selects, and x^2 summed the
          // same way then corrected at the window's ends (in Icarus every statement and
          // loop turn costs, whatever it computes: a line a turn cost twice as much;
          // rtl_bench --instructions).  Lines outside the window are unpacked but never
          // read.
          sum_x2 = '0;
          for (j = in0 / 4; j <= (in0 + n_in - 1) / 4; j = j + 1) begin
            w32 = inbuf_mem[j];
            if (cmd_signed_i) begin
              x[4 * j]     = 32'($signed(w32[7:0]));
              x[4 * j + 1] = 32'($signed(w32[15:8]));
              x[4 * j + 2] = 32'($signed(w32[23:16]));
              x[4 * j + 3] = 32'($signed(w32[31:24]));
            end else begin
              x[4 * j]     = 32'(w32[7:0]);
              x[4 * j + 1] = 32'(w32[15:8]);
              x[4 * j + 2] = 32'(w32[23:16]);
              x[4 * j + 3] = 32'(w32[31:24]);
            end
            sum_x2 = sum_x2 + 64'(x[4 * j] * x[4 * j] + x[4 * j + 1] * x[4 * j + 1]
                                  + x[4 * j + 2] * x[4 * j + 2] + x[4 * j + 3] * x[4 * j + 3]);
          end
          for (j = 4 * (in0 / 4); j < in0; j = j + 1) begin
            sum_x2 = sum_x2 - 64'(x[j] * x[j]);
          end
          for (j = in0 + n_in; j < 4 * ((in0 + n_in - 1) / 4 + 1); j = j + 1) begin
            sum_x2 = sum_x2 - 64'(x[j] * x[j]);
          end
          // Read noise, output-referred: q = isqrt(2 * sum x^2 << 16) scales one draw per
          // output line to the noise of its 2 * n_in independently noisy cells.
          q = noisy ? cim_isqrt64((sum_x2 << 1) << 16) : '0;
          // I_j = sum_i x_i * (G+ - G-), a lane chunk of 16 output lines at a time
          for (ch = out0 / LaneChunk; ch <= (out0 + n_out - 1) / LaneChunk; ch = ch + 1) begin
            accv = '0;
            if (is_trans) begin
              wi = (tile * Cols + cs) * RowChunks + ch;
              for (r = 0; r < n_in; r = r + 1) begin
                xv = x[in0 + r];
                if (xv > 0)      accv = accv + wcol_mem[wi] * ChunkBits'(xv);
                else if (xv < 0) begin
                  xa   = -xv;  // |x|
                  accv = accv - wcol_mem[wi] * ChunkBits'(xa);
                end
                wi = wi + RowChunks;
              end
            end else begin
              wi = (tile * Rows + rs) * ColChunks + ch;
              for (r = 0; r < n_in; r = r + 1) begin
                xv = x[in0 + r];
                if (xv > 0)      accv = accv + wrow_mem[wi] * ChunkBits'(xv);
                else if (xv < 0) begin
                  xa   = -xv;  // |x|
                  accv = accv - wrow_mem[wi] * ChunkBits'(xa);
                end
                wi = wi + ColChunks;
              end
            end
            // the chunk's lanes inside the window only
            k0 = (out0 > ch * LaneChunk) ? out0 - ch * LaneChunk : 0;
            k1 = (out0 + n_out < (ch + 1) * LaneChunk) ? out0 + n_out - ch * LaneChunk
                                                       : LaneChunk;
            for (k = k0; k < k1; k = k + 1) begin
              // lane(accv, k), inline (a call per line cost more than its arithmetic)
              if (k > 0) begin
                iout[ch * LaneChunk + k - out0] = $signed(accv[LaneBits * k +: LaneBits])
                                                  + 32'(accv[LaneBits * k - 1]);
              end else begin
                iout[ch * LaneChunk - out0] = $signed(accv[LaneBits - 1:0]);
              end
            end
          end
          // output lines out0.. are consecutive: each buffer word is read, updated and
          // written back once
          // the ADC's constants, once per command, not per line
          gain      = $signed(64'(cfg_i.adc_gain));
          shift     = cfg_i.adc_shift;
          rnd       = (shift != '0) ? (64'sd1 <<< (shift - 1'b1)) : 64'sd0;  // round half up
          offs      = 64'($signed(cfg_i.adc_offset));
          adc_noisy = (cfg_i.noise_adc_sigma != '0);
          nsat = 0;
          ow_i = out0 / 4;
          sw_i = out0 / 32;
          ow = outbuf_mem[ow_i];
          sw = satbuf_mem[sw_i];
          for (j = 0; j < n_out; j = j + 1) begin
            acc = iout[j];
            // ADC of output line out0 + j
            c = out0 + j;
            if (c / 4 != ow_i) begin
              outbuf_mem[ow_i] = ow;
              ow_i = c / 4;
              ow = outbuf_mem[ow_i];
            end
            if (c / 32 != sw_i) begin
              satbuf_mem[sw_i] = sw;
              sw_i = c / 32;
              sw = satbuf_mem[sw_i];
            end
            y = 64'(acc);
            if (q != '0) begin
              hv = pre_read ^ 32'(c);
              `CIM_MIX32(hv)
              n_read = 64'(`CIM_GAUSS(hv)) * s_read * $signed(q);
              y = y + ((n_read + (64'sd1 <<< (ReadNoiseShift - 1))) >>> ReadNoiseShift);
            end
            y = ((y * gain + rnd) >>> shift) + offs;
            if (adc_noisy) begin
              hv = pre_adc ^ c;
              `CIM_MIX32(hv)
              `CIM_NOISE_S443(pn, hv, s_adc)
              v = pn[31:0];
              y = y + 64'(v);
            end
            if (y < 64'(AdcMin)) begin
              sw[c % 32]         = 1'b1;
              ow[8 * (c % 4) +: 8] = 8'(AdcMin);
              nsat = nsat + 1;
            end else if (y > 64'(AdcMax)) begin
              sw[c % 32]         = 1'b1;
              ow[8 * (c % 4) +: 8] = 8'(AdcMax);
              nsat = nsat + 1;
            end else begin
              sw[c % 32]         = 1'b0;
              ow[8 * (c % 4) +: 8] = y[7:0];
            end
          end
          outbuf_mem[ow_i] = ow;
          satbuf_mem[sw_i] = sw;
          sat_count_q <= SAT_COUNT_VALUE_WIDTH'(nsat);
        end else begin
          // READ_ROW: r = clamp(g + read noise, 0, GCODE_MAX) of both cells of row rs
          for (c = cs; c < cs + cc; c = c + 1) begin
            for (pol = 0; pol < 2; pol = pol + 1) begin
              ci = ((tile * Rows + rs) * Cols + c) * 2 + pol;
              v = 32'(g_mem[ci]);
              if (noisy) begin
                hv = pre_read ^ ci;
                `CIM_MIX32(hv)
                `CIM_NOISE_S443(pn, hv, s_read)
                v = v + $signed(pn[31:0]);
              end
              if (v < 0) begin
                v = 0;
              end else if (v > GCODE_MAX) begin
                v = GCODE_MAX;
              end
              if (pol == 0) begin
                w32[ReadbufGnLsb-1:0] = ReadbufGnLsb'(v);
              end else begin
                w32[31:ReadbufGnLsb] = (32-ReadbufGnLsb)'(v);
              end
            end
            readbuf_mem[c] = w32;
          end
        end
      end else if ((cmd_start_i && is_pulse) || dbg_we_i) begin : write_path
        integer c, ci, base, g, wc, gmin_d, gmax_d, fset_d, freset_d, tile, row, cnt, wdt;
        integer dw, pair;
        reg [31:0] pre_d2d, pre_pulse, hv, key_d2d, key_stuck, key_pulse;
        reg [63:0] gw;
        reg signed [63:0] s_pulse, pn;
        reg stuck, do_set, do_reset, noisy;
        if (cmd_start_i && is_pulse) begin
          tile    = 32'(cfg_i.tile);
          row     = 32'(cfg_i.pulse_row);
          cnt     = 32'(cfg_i.pulse_count);
          wdt     = 32'(cfg_i.pulse_width);
          s_pulse = cim_s443(cfg_i.noise_pulse_sigma);
          noisy   = (cfg_i.noise_pulse_sigma != '0);
          base    = ((tile * Rows + row) * Cols) * 2 + 32'(cmd_pol_i);
          // mix32(seed ^ key(stream)) of the per-cell streams, once per command; the hash
          // and noise steps below are the macros of cim_func.svh, inline: a function call
          // starts a thread in Icarus, and a cell of a PULSE made 19 of them.
          key_d2d   = cim_mix32(cfg_i.seed ^ cim_stream_key(STREAM_D2D));
          key_stuck = cim_mix32(cfg_i.seed ^ cim_stream_key(STREAM_STUCK));
          key_pulse = cim_mix32(cfg_i.seed ^ cim_stream_key(STREAM_PULSE));
          for (c = 0; c < Cols; c = c + 1) begin
            do_set   = set_mask[c];
            do_reset = reset_mask[c];
            if (do_set || do_reset) begin
              ci = base + 2 * c;
              // device-to-device variation, a pure function of (SEED, cell):
              // noise(mix32(prefix ^ k), sigma) for k = 0..3, prefix = hash prefix of ci
              pre_d2d  = key_d2d ^ ci;
              `CIM_MIX32(pre_d2d)
              hv = pre_d2d ^ 32'd0;
              `CIM_MIX32(hv)
              `CIM_NOISE_S443(pn, hv, SD2dGmin)
              gmin_d   = GMIN_NOM + $signed(pn[31:0]);
              gmin_d   = (gmin_d < 0) ? 0 : (gmin_d > GCODE_MAX - 1) ? GCODE_MAX - 1 : gmin_d;
              hv = pre_d2d ^ 32'd1;
              `CIM_MIX32(hv)
              `CIM_NOISE_S443(pn, hv, SD2dGmax)
              gmax_d   = GMAX_NOM + $signed(pn[31:0]);
              gmax_d   = (gmax_d < gmin_d + 1) ? gmin_d + 1 : gmax_d;
              gmax_d   = (gmax_d > GCODE_MAX) ? GCODE_MAX : gmax_d;
              hv = pre_d2d ^ 32'd2;
              `CIM_MIX32(hv)
              `CIM_NOISE_S443(pn, hv, SD2dStep)
              fset_d   = Q88One + $signed(pn[31:0]);
              fset_d   = (fset_d < 0) ? 0 : fset_d;
              hv = pre_d2d ^ 32'd3;
              `CIM_MIX32(hv)
              `CIM_NOISE_S443(pn, hv, SD2dStep)
              freset_d = Q88One + $signed(pn[31:0]);
              freset_d = (freset_d < 0) ? 0 : freset_d;
              // stuck: a cell of a dead column (DEAD_COLS: both cells of the pair), or
              // (hash(seed, STUCK, ci, 0) & 0xFFFF) < STUCK_RATE
              stuck = dead_cols_i[c];
              if (!stuck && cfg_i.stuck_rate != '0) begin
                hv = key_stuck ^ ci;
                `CIM_MIX32(hv)
                `CIM_MIX32(hv)  // ^ 0, then mix32
                stuck = (hv & 32'h0000_FFFF) < 32'(cfg_i.stuck_rate);
              end
              pre_pulse = key_pulse ^ ci;
              `CIM_MIX32(pre_pulse)
              g  = 32'(g_mem[ci]);
              wc = 32'(wc_mem[ci]);
              // SET phase first, then RESET (a column in both masks gets SET first)
              if (do_set) begin
                gw = pulse_phase(1'b1, g, wc, 32'(cfg_i.pulse_set_amp) - VTH_SET_MV, K_SET, fset_d,
                                 gmin_d, gmax_d, stuck, cnt, wdt, noisy, pre_pulse, s_pulse);
                g  = gw[63:32];
                wc = gw[31:0];
              end
              if (do_reset) begin
                gw = pulse_phase(1'b0, g, wc, 32'(cfg_i.pulse_reset_amp) - VTH_RESET_MV, K_RESET,
                                 freset_d, gmin_d, gmax_d, stuck, cnt, wdt, noisy, pre_pulse,
                                 s_pulse);
                g  = gw[63:32];
                wc = gw[31:0];
              end
              // w = G+ - G-: this cell's change, with the sign of its polarity
              dw = g - 32'(g_mem[ci]);
              if (dw != 0) begin
                add_weight(tile, row, c, cmd_pol_i ? -dw : dw);
              end
              g_mem[ci]  = GCODE_BITS'(g);
              wc_mem[ci] = WC_BITS'(wc);
            end
          end
        end
        if (dbg_we_i) begin
          dw = (32'(dbg_gp_i) - 32'(dbg_gn_i))
               - (32'(g_mem[{dbg_pair_i, 1'b0}]) - 32'(g_mem[{dbg_pair_i, 1'b1}]));
          if (dw != 0) begin
            pair = 32'(dbg_pair_i);
            add_weight(pair / (Rows * Cols), (pair / Cols) % Rows, pair % Cols, dw);
          end
          g_mem[{dbg_pair_i, 1'b0}] = dbg_gp_i;
          g_mem[{dbg_pair_i, 1'b1}] = dbg_gn_i;
        end
      end
    end
  end
  /* verilator lint_on BLKSEQ */

  // ---------------------------------------------------------------- read ports
  assign inbuf_word_o   = inbuf_mem[buf_word_i];
  assign outbuf_word_o  = outbuf_mem[buf_word_i];
  assign satbuf_word_o  = satbuf_mem[buf_word_i[SatWordBits-1:0]];
  assign readbuf_word_o = readbuf_mem[buf_word_i];
  assign sat_count_o    = sat_count_q;

  assign dbg_gp_o  = g_mem[{dbg_pair_i, 1'b0}];
  assign dbg_gn_o  = g_mem[{dbg_pair_i, 1'b1}];
  assign dbg_wcp_o = wc_mem[{dbg_pair_i, 1'b0}];
  assign dbg_wcn_o = wc_mem[{dbg_pair_i, 1'b1}];

endmodule
